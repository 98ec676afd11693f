// Written by hand to match both migration folders; `Double`, `Date` and
// `Timestamp` map to the native types of SQLite and PostgreSQL alike.

diesel::table! {
    regions (adcode) {
        adcode -> Text,
        name -> Text,
        level -> Text,
        parent -> Nullable<Text>,
        province -> Text,
        city -> Nullable<Text>,
        lat -> Double,
        lon -> Double,
    }
}

diesel::table! {
    notices (id) {
        id -> Text,
        doc_number -> Text,
        title -> Text,
        issuer -> Text,
        region -> Nullable<Text>,
        year -> Integer,
        issued_on -> Nullable<Date>,
        body -> Text,
        contacts -> Text,
        deadlines -> Text,
        forwards -> Text,
        cites -> Text,
        source_url -> Nullable<Text>,
        source -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    campaigns (id) {
        id -> Text,
        kind -> Text,
        year -> Integer,
        title -> Text,
        theme -> Nullable<Text>,
        region -> Nullable<Text>,
        starts_on -> Nullable<Date>,
        ends_on -> Nullable<Date>,
        period_text -> Nullable<Text>,
        notice_id -> Text,
        source -> Text,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(campaigns -> notices (notice_id));
diesel::allow_tables_to_appear_in_same_query!(regions, notices, campaigns);
