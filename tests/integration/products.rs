//! Certified products through HTTP: look-ups as people type numbers, derived
//! expiry at the day boundary, status history and change feed after a
//! re-import, facets against totals, short and hostile searches, organic
//! codes, CSV round trip, bad rows and bad parameters.

use chrono::{Duration, FixedOffset, NaiveDate, Utc};
use serde_json::{json, Value};

use crate::common::{get, walk, TestDb};

/// GB 32100 check character, written independently of the server's code.
fn credit_code(body17: &str) -> String {
    const ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [usize; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let sum: usize = body17
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| ALPHABET.find(c).unwrap() * w)
        .sum();
    let check = (31 - sum % 31) % 31;
    format!("{body17}{}", &ALPHABET[check..=check])
}

fn today() -> NaiveDate {
    Utc::now()
        .with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive()
}

fn day(offset: i64) -> String {
    (today() + Duration::days(offset)).to_string()
}

/// Two-digit year of today, for organic codes issued this year.
fn yy() -> String {
    format!("{:02}", today().format("%y"))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn certificate(
    number: &str,
    kind: &str,
    products: Value,
    region: &str,
    issued: i64,
    expires: i64,
    status: &str,
    codes: Value,
) -> Value {
    let scheme = if kind == "organic" || kind == "in_conversion" {
        "organic"
    } else {
        "green"
    };
    let (certifier, approval) = if scheme == "organic" {
        ("中绿华夏有机产品认证中心", "CNCA-R-2002-001")
    } else {
        ("中国质量认证中心", "CNCA-R-2002-100")
    };
    let mut item = json!({
        "certificate_no": number,
        "scheme": scheme,
        "certification_type": kind,
        "holder": {"name": format!("测试{number}农业有限公司"), "credit_code": credit_code("91360100MA35F0XX1")},
        "products": products,
        "base_address": "南昌县某基地",
        "region": region,
        "certifier": {"name": certifier, "approval_no": approval},
        "standard": if scheme == "organic" { "GB/T 19630-2019" } else { "GB/T 35601-2017" },
        "issued_on": day(issued),
        "expires_on": day(expires),
        "status": status,
        "organic_codes": codes,
        "source": "test fixture"
    });
    if kind == "green_attribute" {
        item["green_attribute"] = json!("节能");
    }
    item
}

fn code(serial: u64) -> String {
    format!("001{}{serial:012}", yy())
}

fn fixture() -> Value {
    let mut suspended = certificate(
        "T-GRN-002",
        "green_attribute",
        json!([{"name": "空调器", "category": "appliances"}]),
        "440300",
        -200,
        1600,
        "suspended",
        json!([]),
    );
    suspended["status_since"] = json!(day(-3));
    suspended["status_reason"] = json!("监督抽查不合格");
    json!({ "products": [
        certificate("T-ORG-001", "organic",
            json!([{"name": "有机大米", "category": "grain"}, {"name": "有机茶叶", "category": "tea"}]),
            "360121", -100, 265, "valid",
            json!([{"first": code(0), "last": code(9_999)}])),
        certificate("T-ORG-002", "in_conversion",
            json!([{"name": "猕猴桃", "category": "fruit"}]),
            "610100", -300, 0, "valid",
            json!([{"first": code(10_000), "last": code(10_499)}])),
        certificate("T-ORG-003", "organic",
            json!([{"name": "绿茶", "category": "tea"}]),
            "360100", -400, -1, "valid", json!([])),
        certificate("T-ORG-004", "organic",
            json!([{"name": "蜂蜜", "category": "bee_product"}]),
            "110000", -50, 300, "revoked", json!([])),
        certificate("T-GRN-001", "full_green",
            json!([{"name": "人造板", "category": "building_materials"}]),
            "360100", -20, 1800, "valid", json!([])),
        suspended,
    ]})
}

async fn app_with_products() -> (
    TestDb,
    impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
) {
    crate::common::app_with_import(&fixture()).await
}

fn numbers(items: &[Value]) -> Vec<String> {
    let mut numbers: Vec<String> = items
        .iter()
        .map(|i| i["certificate_no"].as_str().unwrap().to_owned())
        .collect();
    numbers.sort();
    numbers
}

#[actix_web::test]
async fn look_ups_tolerate_how_people_type_numbers() {
    let (_db, app) = app_with_products().await;
    for typed in [
        "T-ORG-001",
        "t-org-001",
        "%20T-ORG-001%20",
        // Full-width, as typed with a Chinese input method: Ｔ－ＯＲＧ－００１
        "%EF%BC%B4%EF%BC%8D%EF%BC%AF%EF%BC%B2%EF%BC%A7%EF%BC%8D%EF%BC%90%EF%BC%90%EF%BC%91",
    ] {
        let reply = get(&app, &format!("/api/v1/products/{typed}")).await;
        assert_eq!(reply.status, 200, "{typed}");
        let body = reply.json();
        assert_eq!(body["certificate_no"], "T-ORG-001");
        assert_eq!(body["scheme"], "organic");
        assert_eq!(body["status"], "valid");
        assert_eq!(body["products"][1]["name"], "有机茶叶");
        assert_eq!(body["region"]["name"], "南昌县");
        assert_eq!(body["certifier"]["approval_no"], "CNCA-R-2002-001");
        assert_eq!(body["organic_codes"][0]["first"], code(0));
    }
    get(&app, "/api/v1/products/NO-SUCH-1")
        .await
        .assert_problem(404);
    get(&app, "/api/v1/products/a%22b")
        .await
        .assert_invalid("certificate_no");
    get(&app, "/api/v1/products/x")
        .await
        .assert_invalid("certificate_no");
}

#[actix_web::test]
async fn expiry_is_derived_at_the_day_boundary() {
    let (_db, app) = app_with_products().await;
    let last_day = get(&app, "/api/v1/products/T-ORG-002").await.json();
    assert_eq!(last_day["expires_on"], day(0));
    assert_eq!(last_day["status"], "valid", "valid through its last day");
    let past = get(&app, "/api/v1/products/T-ORG-003").await.json();
    assert_eq!(past["status"], "expired");
    assert_eq!(past["registry_status"], "valid");
    let (expired, _) = walk(&app, "/api/v1/products?status=expired").await;
    assert_eq!(numbers(&expired), ["T-ORG-003"]);
    let (valid, _) = walk(&app, "/api/v1/products?status=valid").await;
    assert_eq!(numbers(&valid), ["T-GRN-001", "T-ORG-001", "T-ORG-002"]);
    let (revoked, _) = walk(&app, "/api/v1/products?status=revoked").await;
    assert_eq!(numbers(&revoked), ["T-ORG-004"]);
}

#[actix_web::test]
async fn history_and_change_feed_follow_a_reimport() {
    let (db, app) = app_with_products().await;
    let mut doc = fixture();
    let first = &mut doc["products"][0];
    first["status"] = json!("suspended");
    first["status_since"] = json!(day(-2));
    first["status_reason"] = json!("证书暂停");
    let mut conn = db.connect();
    let report = ticweek::import::run(&mut conn, &doc.to_string(), false).unwrap();
    assert!(report.errors.is_empty(), "{report}");

    let history = get(&app, "/api/v1/products/T-ORG-001/history").await.json();
    assert_eq!(
        history["items"],
        json!([
            {"changed_on": day(-100), "from": null, "to": "valid", "reason": null},
            {"changed_on": day(-2), "from": "valid", "to": "suspended", "reason": "证书暂停"},
        ])
    );
    // Re-importing the same status adds nothing.
    ticweek::import::run(&mut conn, &doc.to_string(), false).unwrap();
    let again = get(&app, "/api/v1/products/T-ORG-001/history").await.json();
    assert_eq!(again["items"].as_array().unwrap().len(), 2);

    // "Which certificates were suspended or revoked this week?"
    let (changes, _) = walk(
        &app,
        &format!(
            "/api/v1/products/changes?since={}&to=suspended,revoked&limit=1",
            day(-7)
        ),
    )
    .await;
    let changed: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| {
            (
                c["certificate_no"].as_str().unwrap(),
                c["to"].as_str().unwrap(),
            )
        })
        .collect();
    // T-ORG-004 came revoked with no date: dated the day it was imported.
    assert_eq!(
        changed,
        [
            ("T-GRN-002", "suspended"),
            ("T-ORG-001", "suspended"),
            ("T-ORG-004", "revoked")
        ]
    );
    assert_eq!(changes[2]["changed_on"], day(0));
    assert_eq!(changes[1]["holder"], "测试T-ORG-001农业有限公司");
    assert_eq!(changes[1]["changed_on"], day(-2));

    // valid_on reads the history: valid before the suspension, not after.
    let (before, _) = walk(&app, &format!("/api/v1/products?valid_on={}", day(-5))).await;
    assert!(numbers(&before).contains(&"T-ORG-001".to_owned()));
    let (after, _) = walk(&app, &format!("/api/v1/products?valid_on={}", day(0))).await;
    assert!(!numbers(&after).contains(&"T-ORG-001".to_owned()));
    // T-ORG-003 was valid through yesterday, its last day, and not today.
    assert!(numbers(&before).contains(&"T-ORG-003".to_owned()));
    assert!(!numbers(&after).contains(&"T-ORG-003".to_owned()));
    let suspended = get(&app, "/api/v1/products?status=suspended").await.json();
    assert_eq!(suspended["items"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn facets_sum_to_the_totals() {
    let (_db, app) = app_with_products().await;
    for filter in ["", "&scheme=organic", "&region=360000", "&q=%E8%8C%B6"] {
        let body = get(
            &app,
            &format!(
                "/api/v1/products?limit=100&facets=scheme,status,category,region,certifier{filter}"
            ),
        )
        .await
        .json();
        let total = body["items"].as_array().unwrap().len() as i64;
        assert!(total > 0, "{filter}");
        for facet in ["scheme", "status", "category", "region", "certifier"] {
            let sum: i64 = body["facets"][facet]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["count"].as_i64().unwrap())
                .sum();
            assert_eq!(sum, total, "{facet} with {filter:?}");
        }
    }
    let all = get(&app, "/api/v1/products?limit=100&facets=status,region")
        .await
        .json();
    let status: Vec<(String, i64)> = all["facets"]["status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["value"].as_str().unwrap().to_owned(),
                v["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        status,
        [
            ("valid".to_owned(), 3),
            ("expired".to_owned(), 1),
            ("revoked".to_owned(), 1),
            ("suspended".to_owned(), 1)
        ]
    );
    let jiangxi = get(&app, "/api/v1/products?region=360000&facets=region")
        .await
        .json();
    assert_eq!(
        jiangxi["facets"]["region"],
        json!([{"value": "360100", "name": "南昌市", "count": 3}])
    );
}

#[actix_web::test]
async fn search_finds_one_two_and_three_character_terms() {
    let (_db, app) = app_with_products().await;
    for (q, expected) in [
        ("茶", vec!["T-ORG-001", "T-ORG-003"]),
        ("大米", vec!["T-ORG-001"]),
        ("猕猴桃", vec!["T-ORG-002"]),
        ("空调", vec!["T-GRN-002"]),
        ("T-GRN-001农业", vec!["T-GRN-001"]),
    ] {
        let encoded: String = url_encode(q);
        let (items, _) = walk(&app, &format!("/api/v1/products?q={encoded}&limit=1")).await;
        assert_eq!(numbers(&items), expected, "q={q}");
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[actix_web::test]
async fn hostile_search_strings_are_data() {
    let (_db, app) = app_with_products().await;
    for q in [
        "\"",
        "*",
        "茶 OR 蜂蜜",
        "NEAR(茶 米)",
        "%",
        "_",
        "%茶%",
        "'; DROP TABLE products; --",
        "\\",
        "title:茶",
        "茶*",
        "^茶",
        "(",
        "{茶}",
    ] {
        let reply = get(
            &app,
            &format!("/api/v1/products?q={}&limit=100", url_encode(q)),
        )
        .await;
        assert_eq!(reply.status, 200, "q={q}");
        let items = reply.json()["items"].as_array().unwrap().clone();
        // Punctuation matches nothing; syntax words are searched as words.
        assert!(items.len() <= 2, "q={q:?} returned {}", items.len());
    }
    let or = get(
        &app,
        &format!("/api/v1/products?q={}", url_encode("茶 OR 蜂蜜")),
    )
    .await
    .json();
    assert!(
        or["items"].as_array().unwrap().is_empty(),
        "OR is not an operator"
    );
    get(&app, "/api/v1/products?q=%00")
        .await
        .assert_invalid("q");
    let long = "茶".repeat(101);
    get(&app, &format!("/api/v1/products?q={}", url_encode(&long)))
        .await
        .assert_invalid("q");
}

#[actix_web::test]
async fn organic_codes_decode_or_say_which_rule_they_break() {
    let (_db, app) = app_with_products().await;
    let hit = get(&app, &format!("/api/v1/organic-codes/{}", code(4_242))).await;
    assert_eq!(hit.status, 200);
    let body = hit.json();
    assert_eq!(body["layout"], "cnca_2012");
    assert_eq!(body["certifier_code"], "001");
    assert_eq!(body["certifier"]["name"], "中绿华夏有机产品认证中心");
    assert_eq!(
        body["year"].as_i64().unwrap(),
        2000 + yy().parse::<i64>().unwrap()
    );
    assert_eq!(body["serial"], format!("{:012}", 4_242));
    assert_eq!(body["certificate"]["certificate_no"], "T-ORG-001");
    assert_eq!(body["certificate"]["status"], "valid");
    // As printed on a label: "有机码 001-YY-000000010001", spaces and hyphens.
    let printed = url_encode(&format!("有机码 001-{}-{:012}", yy(), 10_001));
    let label = get(&app, &format!("/api/v1/organic-codes/{printed}")).await;
    assert_eq!(label.status, 200);
    assert_eq!(label.json()["certificate"]["certificate_no"], "T-ORG-002");
    // Range ends are inclusive; one past is on no certificate.
    assert_eq!(
        get(&app, &format!("/api/v1/organic-codes/{}", code(10_499)))
            .await
            .status,
        200
    );
    let unknown = get(&app, &format!("/api/v1/organic-codes/{}", code(10_500))).await;
    unknown.assert_problem(404);
    assert!(unknown.json()["detail"]
        .as_str()
        .unwrap()
        .contains("well-formed"));
    // A year no mark can carry (2099) is a code on no certificate, and the
    // answer says which year the digits name.
    let future = get(&app, "/api/v1/organic-codes/00199000000000001").await;
    future.assert_problem(404);
    assert!(future.json()["detail"].as_str().unwrap().contains("2099"));
    for (bad, rule) in [
        ("123", "17 digits"),
        ("001250000000000001", "17 digits"),
        ("0012500000000000A", "digits only"),
    ] {
        let reply = get(&app, &format!("/api/v1/organic-codes/{bad}")).await;
        reply.assert_invalid("code");
        let message = reply.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(rule), "{bad}: {message}");
    }
}

#[actix_web::test]
async fn look_ups_and_code_checks_that_arrive_together_get_each_their_own_answer() {
    // On PostgreSQL look-ups that arrive while others are in flight are
    // read together in one statement (api::batch); every request must still
    // get its own answer: the right certificate, a 404, a repeat answered
    // twice.
    let (db, app) = app_with_products().await;
    let numbers = [
        "T-ORG-001",
        "T-GRN-001",
        "T-NONE-1",
        "T-ORG-001",
        "T-ORG-004",
        "T-NONE-2",
        "T-GRN-002",
        "T-ORG-002",
    ];
    let codes = [4_242, 10_499, 10_500, 4_242, 0, 9_999, 10_000, 99_999];
    let look_ups = numbers.map(|n| format!("/api/v1/products/{n}"));
    let checks = codes.map(|c| format!("/api/v1/organic-codes/{}", code(c)));
    let replies =
        futures_util::future::join_all(look_ups.iter().chain(&checks).map(|uri| get(&app, uri)))
            .await;
    let (look_ups, checks) = replies.split_at(numbers.len());
    for (number, reply) in numbers.iter().zip(look_ups) {
        if number.starts_with("T-NONE") {
            reply.assert_problem(404);
            assert!(reply.json()["detail"].as_str().unwrap().contains(number));
        } else {
            assert_eq!(reply.status, 200, "{number}");
            assert_eq!(reply.json()["certificate_no"], *number);
        }
    }
    for (serial, reply) in codes.iter().zip(checks) {
        let expected = match serial {
            0..=9_999 => "T-ORG-001",
            10_000..=10_499 => "T-ORG-002",
            _ => {
                reply.assert_problem(404);
                continue;
            }
        };
        assert_eq!(reply.status, 200, "{serial}");
        let body = reply.json();
        assert_eq!(body["certificate"]["certificate_no"], expected, "{serial}");
        assert_eq!(body["serial"], format!("{serial:012}"));
        assert_eq!(body["certifier"]["name"], "中绿华夏有机产品认证中心");
    }

    // The batch readers themselves, with several keys at once (what a busy
    // PostgreSQL server sends), on either backend.
    let mut conn = db.connect();
    let asked: Vec<String> = numbers.iter().map(|n| n.to_string()).collect();
    let found = ticweek::db::products::get_many(&mut conn, &asked).unwrap();
    let answered: Vec<Option<&str>> = found
        .iter()
        .map(|hit| hit.as_ref().map(|h| h.certificate_no()))
        .collect();
    let expected: Vec<Option<&str>> = numbers
        .iter()
        .map(|n| (!n.starts_with("T-NONE")).then_some(*n))
        .collect();
    assert_eq!(answered, expected);
    let asked: Vec<(i64, String)> = codes
        .iter()
        .map(|c| (code(*c).parse().unwrap(), "001".to_owned()))
        .collect();
    // From the ranges in memory and, without them, from the database.
    let pool = ticweek::db::pool(&db.url, 1);
    for in_memory in [true, false] {
        let indexes = ticweek::db::memory::Indexes::new(&pool, in_memory);
        let checked = ticweek::db::products::check_codes(&mut conn, &indexes, &asked).unwrap();
        let answered: Vec<Option<&str>> = checked
            .iter()
            .map(|(hit, _)| hit.as_ref().map(|h| h.certificate_no()))
            .collect();
        assert_eq!(
            answered,
            [
                Some("T-ORG-001"),
                Some("T-ORG-002"),
                None,
                Some("T-ORG-001"),
                Some("T-ORG-001"),
                Some("T-ORG-001"),
                Some("T-ORG-002"),
                None
            ],
            "in memory: {in_memory}"
        );
        assert!(checked
            .iter()
            .all(|(hit, certifier)| hit.is_some() == certifier.is_some()));
    }
}

#[actix_web::test]
async fn a_certificate_with_several_code_ranges_answers_for_each_and_not_between() {
    // Ranges listed out of order, with gaps: the look-up lists them in
    // order, a code in any of them finds the certificate with all of them,
    // a code in a gap or below them all is on no certificate.
    let ranges = json!([
        {"first": code(50_000), "last": code(50_099)},
        {"first": code(20_000), "last": code(20_009)},
        {"first": code(70_000), "last": code(70_000)},
    ]);
    let mut doc = fixture();
    doc["products"].as_array_mut().unwrap().push(certificate(
        "T-ORG-009",
        "organic",
        json!([{"name": "有机核桃", "category": "fruit"}]),
        "360121",
        -10,
        300,
        "valid",
        ranges,
    ));
    let (db, app) = crate::common::app_with_import(&doc).await;
    let in_order = json!([
        {"first": code(20_000), "last": code(20_009)},
        {"first": code(50_000), "last": code(50_099)},
        {"first": code(70_000), "last": code(70_000)},
    ]);
    let look_up = get(&app, "/api/v1/products/T-ORG-009").await;
    assert_eq!(look_up.status, 200);
    assert_eq!(look_up.json()["organic_codes"], in_order);
    // Lists and searches show the same ranges, in order.
    for list in [
        "/api/v1/products?q=%E6%A0%B8%E6%A1%83",
        "/api/v1/products?region=360121&scheme=organic",
    ] {
        let page = get(&app, list).await.json();
        let item = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["certificate_no"] == "T-ORG-009")
            .unwrap_or_else(|| panic!("{list}: {page}"));
        assert_eq!(item["organic_codes"], in_order, "{list}");
    }
    for serial in [20_000, 20_009, 50_050, 70_000] {
        let reply = get(&app, &format!("/api/v1/organic-codes/{}", code(serial))).await;
        assert_eq!(reply.status, 200, "{serial}");
        let body = reply.json();
        assert_eq!(body["certificate"]["certificate_no"], "T-ORG-009");
        assert_eq!(body["certificate"]["organic_codes"], in_order);
    }
    for serial in [19_999, 20_010, 49_999, 50_100, 70_001] {
        get(&app, &format!("/api/v1/organic-codes/{}", code(serial)))
            .await
            .assert_problem(404);
    }

    // Re-imported with one range: every way of reading it shows that one.
    let mut narrowed = doc["products"].as_array().unwrap().last().unwrap().clone();
    narrowed["organic_codes"] = json!([{"first": code(50_000), "last": code(50_099)}]);
    let report = ticweek::import::run(
        &mut db.connect(),
        &json!({"products": [narrowed]}).to_string(),
        false,
    )
    .unwrap();
    assert!(report.errors.is_empty(), "{report}");
    let one = json!([{"first": code(50_000), "last": code(50_099)}]);
    let look_up = get(&app, "/api/v1/products/T-ORG-009").await.json();
    assert_eq!(look_up["organic_codes"], one);
    let page = get(&app, "/api/v1/products?q=%E6%A0%B8%E6%A1%83")
        .await
        .json();
    assert_eq!(page["items"][0]["organic_codes"], one);
    let check = get(&app, &format!("/api/v1/organic-codes/{}", code(50_050)))
        .await
        .json();
    assert_eq!(check["certificate"]["organic_codes"], one);
    get(&app, &format!("/api/v1/organic-codes/{}", code(20_000)))
        .await
        .assert_problem(404);
}

#[actix_web::test]
async fn code_ranges_survive_the_migration_that_rebuilt_their_table() {
    // The range table was rebuilt on its first code by migration 000009
    // (organic_code_ranges_by_first_code): taken
    // down and up again over imported ranges, every range still answers.
    let (test_db, pool) = TestDb::bundled();
    let mut conn = test_db.connect();
    let report = ticweek::import::run(&mut conn, &fixture().to_string(), false).unwrap();
    assert!(report.errors.is_empty(), "{report}");
    let mut reverted = 0;
    while ticweek::db::revert_last(&mut conn).unwrap() != "20261122000009" {
        reverted += 1;
    }
    let applied = ticweek::db::migrate(&mut conn).unwrap();
    assert_eq!(applied.len(), reverted + 1);
    let state = ticweek::AppState::new(pool).with_read_cache(0);
    let app = actix_web::test::init_service(ticweek::app(state)).await;
    let look_up = get(&app, "/api/v1/products/T-ORG-001").await.json();
    assert_eq!(
        look_up["organic_codes"],
        json!([{"first": code(0), "last": code(9_999)}])
    );
    for (serial, number) in [
        (0, "T-ORG-001"),
        (9_999, "T-ORG-001"),
        (10_000, "T-ORG-002"),
    ] {
        let reply = get(&app, &format!("/api/v1/organic-codes/{}", code(serial))).await;
        assert_eq!(reply.status, 200, "{serial}");
        assert_eq!(reply.json()["certificate"]["certificate_no"], number);
    }
    get(&app, &format!("/api/v1/organic-codes/{}", code(10_500)))
        .await
        .assert_problem(404);
}

#[actix_web::test]
async fn csv_and_json_exports_import_back_unchanged() {
    let (db, app) = app_with_products().await;
    let csv = get(&app, "/api/v1/products.csv?limit=1000").await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = String::from_utf8(csv.body.to_vec()).unwrap();
    assert!(text.starts_with('\u{feff}'), "BOM for Excel");
    assert_eq!(text.lines().count(), 7);

    let (copy, _pool) = TestDb::bundled();
    let mut conn = copy.connect();
    let report = ticweek::import::run(&mut conn, &text, false).unwrap();
    assert!(report.errors.is_empty(), "{report}");
    assert_eq!(report.counts.products, 6);
    let strip = |doc: String| -> Vec<Value> {
        let mut doc: Value = serde_json::from_str(&doc).unwrap();
        let mut products = doc["products"].as_array_mut().unwrap().clone();
        for p in &mut products {
            p.as_object_mut().unwrap().remove("updated_at");
        }
        products
    };
    let mut original = db.connect();
    let exported = ticweek::import::export(&mut original).unwrap();
    assert_eq!(
        strip(ticweek::import::export(&mut conn).unwrap()),
        strip(exported.clone())
    );

    // The JSON export imports back too, unchanged (statuses included).
    let (again, _pool2) = TestDb::bundled();
    let mut conn = again.connect();
    let report = ticweek::import::run(&mut conn, &exported, false).unwrap();
    assert!(report.errors.is_empty(), "{report}");
    assert_eq!(
        strip(ticweek::import::export(&mut conn).unwrap()),
        strip(exported)
    );
}

#[actix_web::test]
async fn bad_product_rows_are_reported_and_nothing_is_written() {
    let (db, _app) = app_with_products().await;
    let good = fixture()["products"][4].clone();
    let with = |changes: Value| {
        let mut item = good.clone();
        item["certificate_no"] = json!("T-NEW-1");
        for (k, v) in changes.as_object().unwrap() {
            item[k] = v.clone();
        }
        item
    };
    let organic = fixture()["products"][0].clone();
    let mut overlapping = organic.clone();
    overlapping["certificate_no"] = json!("T-NEW-2");
    overlapping["organic_codes"] = json!([{"first": code(9_000), "last": code(9_100)}]);
    let mut wrong_body = organic.clone();
    wrong_body["certificate_no"] = json!("T-NEW-3");
    wrong_body["organic_codes"] = json!([{"first": format!("002{}000000900000", yy()), "last": format!("002{}000000900010", yy())}]);
    let rows = json!([
        with(json!({"holder": {"name": "某公司", "credit_code": "91350100M000100Y44"}})),
        with(json!({"status": "expired"})),
        with(json!({"organic_codes": [{"first": code(1), "last": code(2)}]})),
        with(json!({"expires_on": day(-400)})),
        with(json!({"products": [{"name": "板", "category": "furniture_x"}]})),
        with(json!({"certification_type": "organic"})),
        with(json!({"certifier": {"name": "某认证", "approval_no": "CNCA-2002-1"}})),
        overlapping,
        wrong_body,
        with(json!({"certificate_no": "T-GRN-001 "})),
    ]);
    let mut conn = db.connect();
    let report =
        ticweek::import::run(&mut conn, &json!({ "products": rows }).to_string(), false).unwrap();
    let fields: Vec<(usize, &str)> = report
        .errors
        .iter()
        .map(|e| (e.index, e.field.as_str()))
        .collect();
    for expected in [
        (0, "holder.credit_code"),
        (1, "status"),
        (2, "organic_codes"),
        (3, "expires_on"),
        (4, "products[0].category"),
        (5, "certification_type"),
        (6, "certifier.approval_no"),
        (7, "organic_codes"),
        (8, "organic_codes[0].first"),
    ] {
        assert!(fields.contains(&expected), "{expected:?} in {fields:?}");
    }
    assert!(report.errors.iter().all(|e| e.section == "products"));
    // Nothing written: the store still holds the six fixture certificates.
    let export: Value = serde_json::from_str(&ticweek::import::export(&mut conn).unwrap()).unwrap();
    assert_eq!(export["products"].as_array().unwrap().len(), 6);
}

#[actix_web::test]
async fn bad_parameters_are_400s_naming_them() {
    let (_db, app) = app_with_products().await;
    for (query, field) in [
        ("status=lost", "status"),
        ("scheme=biodynamic", "scheme"),
        ("category=furniture_x", "category"),
        ("valid_on=2024-02-30", "valid_on"),
        ("certifier=ABC", "certifier"),
        ("facets=kind", "facets"),
        ("region=12", "region"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=bm90LWEtY3Vyc29y", "cursor"),
        ("colour=green", "colour"),
    ] {
        get(&app, &format!("/api/v1/products?{query}"))
            .await
            .assert_invalid(field);
    }
    get(&app, "/api/v1/products.csv?facets=status")
        .await
        .assert_invalid("facets");
    get(&app, "/api/v1/products/changes")
        .await
        .assert_invalid("since");
    get(&app, "/api/v1/products/changes?since=yesterday")
        .await
        .assert_invalid("since");
    get(&app, "/api/v1/products/changes?since=2026-01-01&to=expired")
        .await
        .assert_invalid("to");
    get(&app, "/api/v1/products/T-ORG-001/history?cursor=x")
        .await
        .assert_invalid("cursor");
    get(&app, "/api/v1/products/NOPE-1/history")
        .await
        .assert_problem(404);
    // A cursor of another list is refused, not misread.
    let events = get(&app, "/api/v1/events?limit=1").await.json();
    let foreign = events["next_cursor"].as_str().unwrap();
    get(&app, &format!("/api/v1/products?cursor={foreign}"))
        .await
        .assert_invalid("cursor");
}

#[actix_web::test]
async fn a_common_term_with_a_selective_filter_pages_through_every_match() {
    // The same pages from the in-memory posting lists and the SQL index.
    for lists in [true, false] {
        common_term_with_selective_filter(lists).await;
    }
}

async fn common_term_with_selective_filter(lists: bool) {
    // 60 tea certificates, every tenth in Jiangxi: a search for 茶 in
    // Jiangxi must find each of those (and the fixture's two) across pages,
    // however many non-matching newer records lie between them.
    let mut doc = fixture();
    let products = doc["products"].as_array_mut().unwrap();
    for i in 0..60 {
        let region = if i % 10 == 0 { "360100" } else { "440300" };
        products.push(certificate(
            &format!("T-TEA-{i:03}"),
            "organic",
            json!([{"name": format!("高山茶{i}"), "category": "tea"}]),
            region,
            -10,
            300,
            "valid",
            json!([]),
        ));
    }
    let (_db, app) = crate::common::app_with_import_searching(&doc, lists).await;
    let mut expected: Vec<String> = (0..60)
        .filter(|i| i % 10 == 0)
        .map(|i| format!("T-TEA-{i:03}"))
        .chain(["T-ORG-001".to_owned(), "T-ORG-003".to_owned()])
        .collect();
    expected.sort();
    for limit in [1, 2, 7, 100] {
        let (items, _) = walk(
            &app,
            &format!("/api/v1/products?q=%E8%8C%B6&region=360000&limit={limit}"),
        )
        .await;
        assert_eq!(numbers(&items), expected, "limit={limit}");
        // Newest first, each once.
        let order: Vec<&str> = items
            .iter()
            .map(|i| i["certificate_no"].as_str().unwrap())
            .collect();
        assert_eq!(order.first(), Some(&"T-TEA-050"), "limit={limit}");
    }
}

#[actix_web::test]
async fn search_sees_a_write_at_once() {
    // The posting lists are rebuilt for the new data before a search after
    // the write is answered: a renamed product is found by its new name
    // and no longer by its old one.
    let (db, app) = app_with_products().await;
    let before = walk(&app, "/api/v1/products?q=%E5%A4%A7%E7%B1%B3").await.0;
    assert_eq!(numbers(&before), ["T-ORG-001"]);
    let mut doc = fixture();
    let renamed = doc["products"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["certificate_no"] == "T-ORG-001")
        .unwrap();
    renamed["products"] = json!([{"name": "紫糯米", "category": "grain"}]);
    let token = crate::write::issue(&db, "search", ticweek::domain::Role::National, None);
    let reply = crate::common::send(
        &app,
        actix_web::test::TestRequest::post()
            .uri("/api/v1/import")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .insert_header(("Content-Type", "application/json"))
            .set_payload(json!({"products": [renamed.clone()]}).to_string())
            .to_request(),
    )
    .await;
    assert_eq!(
        reply.status,
        actix_web::http::StatusCode::OK,
        "{:?}",
        reply.json()
    );
    assert!(walk(&app, "/api/v1/products?q=%E5%A4%A7%E7%B1%B3")
        .await
        .0
        .is_empty());
    let after = walk(&app, "/api/v1/products?q=%E7%B4%AB%E7%B3%AF").await.0;
    assert_eq!(numbers(&after), ["T-ORG-001"]);
}

#[actix_web::test]
async fn stored_representations_answer_as_the_rows_they_were_rendered_from() {
    // A certificate carries its representation with holes for the status
    // of the day and the region's name. Every way of reading it answers the
    // same bytes as the representation built from its row (what readers
    // fall back to for rows written before there was one), including for
    // text that looks like the keys around the holes; and rendering the
    // missing ones, as migrating does, stores one for every certificate.
    let mut doc = fixture();
    let mut tricky = certificate(
        "T-ORG-010",
        "organic",
        json!([{"name": "\",\"status\":\"valid\",\"registry_status\":\"", "category": "tea"}]),
        "360121",
        -30,
        30,
        "valid",
        json!([]),
    );
    tricky["holder"]["name"] = json!("\",\"region\":{\"adcode\":\"360121\",\"name\":\"测试\u{1}");
    tricky["base_address"] = json!("\u{2}\",\"name\":\"");
    doc["products"].as_array_mut().unwrap().push(tricky);
    let (db, app) = crate::common::app_with_import(&doc).await;
    let mut paths: Vec<String> = [
        "T-ORG-001",
        "T-ORG-002",
        "T-ORG-003",
        "T-ORG-004",
        "T-GRN-001",
        "T-GRN-002",
        "T-ORG-010",
    ]
    .iter()
    .map(|n| format!("/api/v1/products/{n}"))
    .collect();
    paths.extend(
        [
            "/api/v1/products?q=%E6%9C%89%E6%9C%BA",
            "/api/v1/products?q=%E6%B5%8B%E8%AF%95&limit=3",
            "/api/v1/products?scheme=organic",
            "/api/v1/products?status=expired",
        ]
        .map(str::to_owned),
    );
    paths.push(format!("/api/v1/organic-codes/{}", code(5)));
    paths.push(format!("/api/v1/organic-codes/{}", code(10_000)));
    // A later page of a search: the rowids it was found at will hold newer
    // certificates once renumbered.
    let search = "/api/v1/products?q=%E6%B5%8B%E8%AF%95&limit=3";
    let first = get(&app, search).await.json();
    let cursor = first["next_cursor"].as_str().expect("a second page");
    paths.push(format!("{search}&cursor={cursor}"));
    let read_all = |app| {
        let paths = paths.clone();
        async move {
            let mut bodies = Vec::new();
            for path in &paths {
                let reply = get(app, path).await;
                assert_eq!(reply.status, 200, "{path}");
                bodies.push(String::from_utf8(reply.body.to_vec()).unwrap());
            }
            bodies
        }
    };
    let stored = read_all(&app).await;
    // A CSV search reads whole rows, not representations: the same list.
    let search = "products?q=%E6%9C%89%E6%9C%BA";
    let csv = get(&app, &format!("/api/v1/{}", search.replace('?', ".csv?"))).await;
    assert_eq!(csv.status, 200);
    let csv = String::from_utf8(csv.body.to_vec()).unwrap();
    let items = get(&app, &format!("/api/v1/{search}")).await.json()["items"].clone();
    let listed: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let found: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["certificate_no"].as_str().unwrap())
        .collect();
    assert_eq!(listed, found);
    let tricky = get(&app, "/api/v1/products/T-ORG-010").await.json();
    assert_eq!(tricky["status"], "valid");
    assert_eq!(tricky["region"]["name"], "南昌县");
    assert_eq!(tricky["base_address"], "\u{2}\",\"name\":\"");

    let mut conn = db.connect();
    // Organic-code checks and searches read certificates where the
    // indexes in memory last saw them (SQLite's rowids, PostgreSQL's
    // ctids), which either database may have moved since.
    db.renumber_rows("products", "certificate_no");
    assert_eq!(read_all(&app).await, stored, "rows moved");
    let unrendered = |conn: &mut ticweek::db::DbConn| -> i64 {
        use diesel::prelude::*;
        use ticweek::db::schema::products::dsl::*;
        products
            .filter(body.is_null())
            .count()
            .get_result(conn)
            .unwrap()
    };
    assert_eq!(unrendered(&mut conn), 0, "every write renders it");
    {
        use diesel::prelude::*;
        use ticweek::db::schema::products::dsl::*;
        diesel::update(products)
            .set(body.eq(None::<Vec<u8>>))
            .execute(&mut conn)
            .unwrap();
    }
    assert_eq!(read_all(&app).await, stored, "built from the rows");

    ticweek::data::render_certificates(&mut conn).unwrap();
    assert_eq!(unrendered(&mut conn), 0);
    assert_eq!(read_all(&app).await, stored, "rendered again");
}
