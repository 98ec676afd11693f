//! Select clauses rendered to SQL once, not at every query.
//!
//! A boxed query (every list, search and nearby page: their filters vary)
//! has no static query id, so diesel renders its whole SQL text at every
//! execution to find the prepared statement in the connection's cache, and
//! `MultiConnection` walks it again to collect the binds. Most of that text
//! is the select clause: twenty to thirty quoted `table.column` pairs, each
//! quoted through a fresh allocation. Instruction counts (callgrind, 1,000
//! requests) put walking the query at 23 % of an event list page, most of
//! it the select clause. The columns never change, so `Rendered` writes
//! them once per backend and `Columns` pushes the stored text.

use std::marker::PhantomData;
use std::sync::LazyLock;

use diesel::backend::Backend as DieselBackend;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::pg::{Pg, PgQueryBuilder};
use diesel::query_builder::{AstPass, QueryBuilder, QueryFragment, QueryId};
use diesel::sqlite::{Sqlite, SqliteQueryBuilder};
use diesel::QueryResult;

use super::Backend;

/// The SQL text of one select clause, as each backend quotes it.
pub struct Rendered {
    sqlite: String,
    pg: String,
}

impl Rendered {
    /// Renders `selection` (the columns of a `Selectable` row, say) for both
    /// backends. A selection that cannot be rendered, or that binds a value,
    /// is a programming error, caught by every test that reads the row.
    pub fn of<E>(selection: &E) -> Self
    where
        E: QueryFragment<Sqlite> + QueryFragment<Pg>,
    {
        fn render<DB: DieselBackend + Default>(
            fragment: &impl QueryFragment<DB>,
            mut builder: DB::QueryBuilder,
        ) -> String {
            fragment
                .to_sql(&mut builder, &DB::default())
                .expect("a select clause renders");
            builder.finish()
        }
        let rendered = Self {
            sqlite: render::<Sqlite>(selection, SqliteQueryBuilder::new()),
            pg: render::<Pg>(selection, PgQueryBuilder::default()),
        };
        // `Columns` pushes text only: a selection with a bound value would
        // lose it. (Column names hold no `?` or `$`.)
        assert!(
            !rendered.sqlite.contains('?') && !rendered.pg.contains('$'),
            "a select clause with bound values cannot be rendered once: {}",
            rendered.sqlite
        );
        rendered
    }
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sqlite)
    }
}

/// A selection of type `E` (which decides how rows are read) written as the
/// stored text of `sql`, which must have been rendered from a selection of
/// that type (see `columns!`).
#[derive(Debug)]
pub struct Columns<E> {
    selection: PhantomData<fn() -> E>,
    sql: &'static LazyLock<Rendered>,
}

impl<E> Columns<E> {
    pub const fn new(sql: &'static LazyLock<Rendered>) -> Self {
        Self {
            selection: PhantomData,
            sql,
        }
    }
}

impl<E> Clone for Columns<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Columns<E> {}

/// `$row::as_select()` with its columns rendered once: the select clause of
/// the `Selectable` row type `$row`.
macro_rules! columns {
    ($row:ty) => {{
        static SQL: std::sync::LazyLock<$crate::db::rendered::Rendered> =
            std::sync::LazyLock::new(|| {
                $crate::db::rendered::Rendered::of(&<$row as diesel::Selectable<
                    $crate::db::Backend,
                >>::construct_selection())
            });
        $crate::db::rendered::Columns::<diesel::dsl::AsSelect<$row, $crate::db::Backend>>::new(&SQL)
    }};
}
pub(crate) use columns;

impl<E: Expression> Expression for Columns<E> {
    type SqlType = E::SqlType;
}

impl<E: SelectableExpression<QS>, QS> SelectableExpression<QS> for Columns<E> where
    Self: AppearsOnTable<QS>
{
}

impl<E: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for Columns<E> where Self: Expression {}

impl<E: ValidGrouping<GB>, GB> ValidGrouping<GB> for Columns<E> {
    type IsAggregate = E::IsAggregate;
}

/// The same id as the selection's: the text is a function of its type.
impl<E: QueryId> QueryId for Columns<E> {
    type QueryId = E::QueryId;
    const HAS_STATIC_QUERY_ID: bool = E::HAS_STATIC_QUERY_ID;
}

impl<E> QueryFragment<Sqlite> for Columns<E> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql(&self.sql.sqlite);
        Ok(())
    }
}

impl<E> QueryFragment<Pg> for Columns<E> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(&self.sql.pg);
        Ok(())
    }
}

impl<E> QueryFragment<Backend> for Columns<E> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Backend>) -> QueryResult<()> {
        Backend::walk_variant_ast(self, out)
    }
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use crate::db::schema::events;

    /// The stored text is what diesel writes for the same selection, on
    /// both backends.
    #[test]
    fn the_stored_text_is_what_diesel_renders() {
        use crate::db::events::EventRow;
        let plain = events::table
            .select(<EventRow as SelectableHelper<diesel::sqlite::Sqlite>>::as_select());
        let stored = events::table.select(columns!(EventRow));
        assert_eq!(
            diesel::debug_query::<diesel::sqlite::Sqlite, _>(&stored).to_string(),
            diesel::debug_query::<diesel::sqlite::Sqlite, _>(&plain).to_string()
        );
        let plain =
            events::table.select(<EventRow as SelectableHelper<diesel::pg::Pg>>::as_select());
        assert_eq!(
            diesel::debug_query::<diesel::pg::Pg, _>(&stored).to_string(),
            diesel::debug_query::<diesel::pg::Pg, _>(&plain).to_string()
        );
    }
}
