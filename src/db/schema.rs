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
        search_key -> BigInt,
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

diesel::table! {
    products (certificate_no) {
        certificate_no -> Text,
        scheme -> Text,
        certification_type -> Text,
        green_attribute -> Nullable<Text>,
        holder_name -> Text,
        holder_credit_code -> Nullable<Text>,
        items -> Text,
        category -> Text,
        base_address -> Nullable<Text>,
        region -> Text,
        province -> Text,
        city -> Nullable<Text>,
        certifier_name -> Text,
        certifier_approval_no -> Text,
        certifier_code -> Text,
        standard -> Text,
        issued_on -> Date,
        expires_on -> Date,
        status -> Text,
        search_key -> BigInt,
        source -> Text,
        updated_at -> Timestamp,
        code_ranges -> Nullable<Text>,
        body -> Nullable<Binary>,
    }
}

diesel::table! {
    product_status_changes (id) {
        id -> BigInt,
        certificate_no -> Text,
        changed_on -> Date,
        from_status -> Nullable<Text>,
        to_status -> Text,
        reason -> Nullable<Text>,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    organic_code_ranges (first_code) {
        first_code -> BigInt,
        last_code -> BigInt,
        certificate_no -> Text,
    }
}

diesel::joinable!(campaigns -> notices (notice_id));

diesel::table! {
    events (id) {
        id -> Text,
        campaign_id -> Text,
        kind -> Text,
        year -> Integer,
        title -> Text,
        description -> Text,
        activities -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        period_text -> Nullable<Text>,
        venue_name -> Nullable<Text>,
        venue_address -> Nullable<Text>,
        lat -> Double,
        lon -> Double,
        x -> Double,
        y -> Double,
        z -> Double,
        precision -> Text,
        region -> Text,
        province -> Text,
        city -> Nullable<Text>,
        search_key -> BigInt,
        organizer -> Nullable<Text>,
        online_url -> Nullable<Text>,
        attendance -> Text,
        status -> Text,
        source -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    changes (seq) {
        seq -> BigInt,
        resource -> Text,
        record_id -> Text,
        action -> Text,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    labs (id) {
        id -> Text,
        name -> Text,
        cma_no -> Nullable<Text>,
        cnas_no -> Nullable<Text>,
        field_mask -> BigInt,
        address -> Nullable<Text>,
        region -> Text,
        province -> Text,
        city -> Nullable<Text>,
        lat -> Double,
        lon -> Double,
        x -> Double,
        y -> Double,
        z -> Double,
        precision -> Text,
        phone -> Nullable<Text>,
        website -> Nullable<Text>,
        search_key -> BigInt,
        source -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    open_days (id) {
        id -> Text,
        lab_id -> Text,
        event_id -> Nullable<Text>,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        period_text -> Nullable<Text>,
        description -> Nullable<Text>,
        activity_mask -> BigInt,
        audience -> Nullable<Text>,
        capacity -> Nullable<Integer>,
        booking_required -> Nullable<Bool>,
        booking_url -> Nullable<Text>,
        booking_phone -> Nullable<Text>,
        bookable -> Bool,
        online_url -> Nullable<Text>,
        status -> Text,
        updated_at -> Timestamp,
        body -> Nullable<Binary>,
    }
}

diesel::joinable!(events -> regions (region));
diesel::joinable!(labs -> regions (region));
diesel::joinable!(open_days -> labs (lab_id));
diesel::joinable!(products -> regions (region));
diesel::joinable!(product_status_changes -> products (certificate_no));
diesel::joinable!(organic_code_ranges -> products (certificate_no));
diesel::allow_tables_to_appear_in_same_query!(
    events,
    regions,
    campaigns,
    notices,
    changes,
    labs,
    open_days,
    products,
    product_status_changes,
    organic_code_ranges,
    tokens,
    audit_log,
    idempotent_replies
);

// The event facet query groups by event columns and the region's ancestors.
diesel::allow_columns_to_appear_in_same_group_by_clause!(
    events::kind,
    events::region,
    events::status,
    events::year,
    regions::province,
    regions::city,
);

diesel::table! {
    data_version (id) {
        id -> Integer,
        version -> BigInt,
        events_version -> BigInt,
        labs_version -> BigInt,
        products_version -> BigInt,
        campaigns_version -> BigInt,
    }
}

diesel::table! {
    tokens (name) {
        name -> Text,
        role -> Text,
        scope -> Nullable<Text>,
        hash -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        target_type -> Text,
        target_id -> Text,
        before_json -> Nullable<Text>,
        after_json -> Nullable<Text>,
    }
}

diesel::table! {
    idempotent_replies (actor, key) {
        actor -> Text,
        key -> Text,
        fingerprint -> Text,
        status -> Integer,
        location -> Nullable<Text>,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    blobs (sha256) {
        sha256 -> Text,
        bytes -> Binary,
    }
}

diesel::table! {
    posters (id) {
        id -> Text,
        title -> Text,
        kind -> Text,
        year -> Integer,
        campaign_id -> Nullable<Text>,
        language -> Text,
        source -> Text,
        usage_note -> Nullable<Text>,
        region -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    poster_files (poster_id, variant) {
        poster_id -> Text,
        variant -> Text,
        format -> Text,
        width -> Nullable<Integer>,
        height -> Nullable<Integer>,
        size -> BigInt,
        sha256 -> Text,
        file_name -> Nullable<Text>,
    }
}

diesel::joinable!(poster_files -> posters (poster_id));
diesel::joinable!(poster_files -> blobs (sha256));
diesel::allow_tables_to_appear_in_same_query!(posters, poster_files, blobs);
