use std::collections::BTreeSet;
use std::path::Path;

use crate::common::TestDb;

fn versions(dir: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dir);
    std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|entry| {
            let entry = entry.unwrap();
            for file in ["up.sql", "down.sql"] {
                assert!(
                    entry.path().join(file).is_file(),
                    "{} lacks {file}",
                    entry.path().display()
                );
            }
            entry.file_name().to_string_lossy().into_owned()
        })
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_are_twins() {
    let sqlite = versions("sqlite");
    let postgres = versions("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres must have the same versions"
    );
}

#[test]
fn migrations_go_up_down_and_up_again() {
    let test_db = TestDb::empty();
    let mut conn = test_db.connect();
    let applied = ticweek::db::migrate(&mut conn).unwrap();
    assert_eq!(applied.len(), versions("sqlite").len());
    let reverted = ticweek::db::revert_all(&mut conn).unwrap();
    assert_eq!(reverted, applied.len());
    ticweek::data::prepare(&mut conn).unwrap();
    // Preparing is idempotent: a second start finds data and leaves it alone.
    ticweek::data::prepare(&mut conn).unwrap();
    assert!(ticweek::db::regions::count(&mut conn).unwrap() > 3_000);
}

#[test]
fn unrecognised_database_urls_are_errors() {
    use ticweek::db::DatabaseUrl;
    assert!(matches!(
        DatabaseUrl::parse("ticweek.db"),
        Ok(DatabaseUrl::Sqlite(_))
    ));
    assert!(
        matches!(DatabaseUrl::parse("sqlite:///tmp/x.db"), Ok(DatabaseUrl::Sqlite(p)) if p == "/tmp/x.db")
    );
    assert!(matches!(
        DatabaseUrl::parse("postgres://u@h/db"),
        Ok(DatabaseUrl::Postgres(_))
    ));
    assert!(matches!(
        DatabaseUrl::parse("postgresql://u@h/db"),
        Ok(DatabaseUrl::Postgres(_))
    ));
    for bad in [
        "postgress://u@h/db",
        "mysql://h/db",
        "http://x",
        "mysql:db",
        "",
        "sqlite://",
    ] {
        assert!(
            DatabaseUrl::parse(bad).is_err(),
            "{bad:?} should be refused"
        );
    }
}

#[test]
fn export_imports_back_unchanged() {
    let (test_db, _pool) = TestDb::bundled();
    let mut conn = test_db.connect();
    let exported = ticweek::import::export(&mut conn).unwrap();
    let report = ticweek::import::run(&mut conn, &exported, false).unwrap();
    assert!(report.errors.is_empty(), "{report}");
    assert_eq!(
        (
            report.counts.notices,
            report.counts.campaigns,
            report.counts.events,
            report.counts.labs,
            report.counts.open_days
        ),
        (5, 9, 18, 3, 3)
    );
    let strip = |json: &str| -> serde_json::Value {
        let mut doc: serde_json::Value = serde_json::from_str(json).unwrap();
        for section in ["notices", "campaigns", "events", "labs"] {
            for item in doc[section].as_array_mut().unwrap() {
                item.as_object_mut().unwrap().remove("updated_at");
                for day in item["open_days"].as_array_mut().into_iter().flatten() {
                    day.as_object_mut().unwrap().remove("updated_at");
                }
            }
        }
        doc
    };
    assert_eq!(
        strip(&ticweek::import::export(&mut conn).unwrap()),
        strip(&exported)
    );
}

#[test]
fn a_bad_import_writes_nothing_and_reports_every_row() {
    let (test_db, _pool) = TestDb::bundled();
    let mut conn = test_db.connect();
    let doc = serde_json::json!({
        "notices": [
            {"id": "ok-1", "doc_number": "测〔2025〕1号", "title": "t", "issuer": "i", "source": "s"},
            {"id": "Bad Id", "doc_number": "测〔2025〕2号", "title": "t", "issuer": "i", "source": "s", "region": "990000"}
        ],
        "campaigns": [
            {"id": "c-1", "kind": "party", "year": 2025, "title": "t", "notice_id": "missing", "source": "s",
             "starts_on": "2025-02-30"}
        ]
    });
    let report = ticweek::import::run(&mut conn, &doc.to_string(), false).unwrap();
    let fields: Vec<(&str, usize, &str)> = report
        .errors
        .iter()
        .map(|e| (e.section, e.index, e.field.as_str()))
        .collect();
    for expected in [
        ("notices", 1, "id"),
        ("notices", 1, "region"),
        ("campaigns", 0, "kind"),
        ("campaigns", 0, "starts_on"),
        ("campaigns", 0, "notice_id"),
    ] {
        assert!(fields.contains(&expected), "{expected:?} not in {fields:?}");
    }
    assert!(
        ticweek::db::notices::get(&mut conn, "ok-1").is_err(),
        "a failed import must write nothing"
    );
}
