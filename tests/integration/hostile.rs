//! Hostile input, over real sockets: `ticweek serve` on 127.0.0.1 gets raw
//! HTTP/1.1 requests that no client
//! library would send. Every one must get a 4xx problem+json naming its
//! status (or, for what is not HTTP at all, the HTTP layer's bare 400/431),
//! never a 5xx; the server must answer `/healthz` after each; and the memory
//! of the process must not grow with what was thrown at it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::TestDb;

/// A request as bytes, so that it can be anything.
struct Raw {
    method: &'static str,
    target: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// Send the body chunked, without Content-Length.
    chunked: bool,
}

fn raw(method: &'static str, target: impl Into<Vec<u8>>) -> Raw {
    Raw {
        method,
        target: target.into(),
        headers: Vec::new(),
        body: Vec::new(),
        chunked: false,
    }
}

impl Raw {
    fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn json(self, body: impl Into<Vec<u8>>) -> Self {
        self.header("Content-Type", "application/json").body(body)
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 512);
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(&self.target);
        out.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if self.chunked {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for chunk in self.body.chunks(64 * 1024) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else {
            if !self.body.is_empty() {
                out.extend_from_slice(
                    format!("Content-Length: {}\r\n", self.body.len()).as_bytes(),
                );
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&self.body);
        }
        out
    }
}

struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

/// Sends `request` and reads the answer to the end of the connection. The
/// body is written from another thread, so that a server which answers
/// before reading it all (413) is heard.
fn exchange(addr: SocketAddr, request: &Raw) -> Answer {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        // Not listening (yet, or any more): status 0.
        return Answer {
            status: 0,
            head: String::new(),
            body: Vec::new(),
        };
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let bytes = request.bytes();
    let sending = std::thread::spawn(move || {
        // The server may close early; what it answered is still read.
        let _ = writer.write_all(&bytes);
    });
    let mut received = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sending.join();
    let split = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(received.len());
    let head = String::from_utf8_lossy(&received[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut body = received[(split + 4).min(received.len())..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Answer { status, head, body }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&data[..end]).unwrap_or("0"), 16)
            .unwrap_or(0);
        if size == 0 || data.len() < end + 2 + size {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[(end + 4 + size).min(data.len())..];
    }
    out
}

/// `ticweek serve` itself (the binary, with its timeouts and one worker) on
/// `url`; stopped when dropped.
struct Server {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Server {
    fn start(url: &ticweek::db::DatabaseUrl) -> Self {
        let url = match url {
            ticweek::db::DatabaseUrl::Sqlite(path) => path.clone(),
            ticweek::db::DatabaseUrl::Postgres(dsn) => dsn.clone(),
        };
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_ticweek"))
            .args([
                "--database-url",
                &url,
                "--bind",
                &addr.to_string(),
                "--workers",
                "1",
            ])
            // Rate limits have their own test; here every case must reach the app.
            .args(["--rate-limit", "off", "serve"])
            .env("RUST_LOG", "error")
            .spawn()
            .expect("start ticweek serve");
        let server = Self { child, addr };
        for _ in 0..600 {
            if exchange(addr, &raw("GET", "/readyz")).status == 200 {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not become ready");
    }

    /// Its resident memory, in bytes.
    fn rss(&self) -> u64 {
        let statm =
            std::fs::read_to_string(format!("/proc/{}/statm", self.child.id())).unwrap_or_default();
        let pages: u64 = statm
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        pages * 4096
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gzip body that inflates to 1 GiB of zeros: one fully flushed deflate
/// block of 1 MiB of zeros, 1,024 times (its CRC is never reached).
fn gzip_bomb() -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let zeros = vec![0u8; 1 << 20];
    let mut deflate = Compress::new(Compression::best(), false);
    let mut block = Vec::with_capacity(64 * 1024);
    deflate
        .compress_vec(&zeros, &mut block, FlushCompress::Full)
        .unwrap();
    assert_eq!(deflate.total_in(), 1 << 20);
    let mut end = Vec::with_capacity(64);
    deflate
        .compress_vec(&[], &mut end, FlushCompress::Finish)
        .unwrap();
    let mut body = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    for _ in 0..1024 {
        body.extend_from_slice(&block);
    }
    body.extend_from_slice(&end);
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(&(1u32 << 30).to_le_bytes());
    body
}

fn nested(depth: usize, open: &str, close: &str) -> Vec<u8> {
    let mut body = open.repeat(depth);
    body.push_str(&close.repeat(depth));
    body.into_bytes()
}

#[test]
fn hostile_input_gets_a_4xx_problem_and_the_server_stays_healthy() {
    let (db, _pool) = TestDb::bundled();
    let (token, hash) = ticweek::domain::new_token().unwrap();
    let scope = ticweek::domain::Scope::new(ticweek::domain::Role::National, None).unwrap();
    ticweek::db::access::create_token(
        &mut db.connect(),
        "hostile",
        &scope,
        &hash,
        chrono::Utc::now().naive_utc(),
    )
    .unwrap();
    let bearer = format!("Bearer {token}");
    let mut server = Server::start(&db.url);
    let addr = server.addr;
    let healthy = |addr| exchange(addr, &raw("GET", "/healthz")).status == 200;

    // Real cursors, to forge from.
    let cursor = |path: &str| {
        exchange(addr, &raw("GET", path)).json()["next_cursor"]
            .as_str()
            .expect("a next page")
            .to_owned()
    };
    let events_cursor = cursor("/api/v1/events?limit=1");
    let labs_cursor = cursor("/api/v1/labs?limit=1");
    let descending_cursor = cursor("/api/v1/events?limit=1&sort=-starts_at");
    let truncated = &events_cursor[..events_cursor.len() / 2];

    let event = r#"{"id":"hostile-1","campaign_id":"jiangxi-2022-organic-week","title":"t","starts_at":"2026-09-01T09:00:00+08:00","ends_at":"2026-09-01T10:00:00+08:00","venue":{"precision":"region"},"region":"360700","source":"test"}"#;
    let ten_mib = vec![b' '; 10 * 1024 * 1024 + 1];
    let long_query = format!("/api/v1/events?q={}", "a".repeat(100 * 1024));
    let big_header = "x".repeat(64 * 1024);
    let bomb = gzip_bomb();
    let post = |path: &'static str| raw("POST", path).header("Authorization", bearer.clone());

    // (what, request, statuses allowed)
    // What no HTTP parser takes (bytes a request line or header may not
    // hold, a URL the `http` crate cannot hold, more than 96 headers): the
    // HTTP layer answers 400 (or 431) itself, without a problem body.
    const HTTP_LAYER: &[u16] = &[400, 431];
    let cases: Vec<(&str, Raw, &[u16])> = vec![
        // Limits and cursors.
        ("limit 0", raw("GET", "/api/v1/events?limit=0"), &[400]),
        ("limit 101", raw("GET", "/api/v1/events?limit=101"), &[400]),
        ("limit -1", raw("GET", "/api/v1/labs?limit=-1"), &[400]),
        ("limit 2^70", raw("GET", "/api/v1/products?limit=1180591620717411303424"), &[400]),
        ("limit 1e3", raw("GET", "/api/v1/events.csv?limit=1e3"), &[400]),
        ("limit NaN", raw("GET", "/api/v1/notices?limit=NaN"), &[400]),
        ("forged cursor", raw("GET", "/api/v1/events?cursor=AAAAAAAAAAAAAAAAAAAA"), &[400]),
        ("truncated cursor", raw("GET", format!("/api/v1/events?limit=1&cursor={truncated}")), &[400]),
        ("cursor of another order", raw("GET", format!("/api/v1/events?limit=1&cursor={descending_cursor}")), &[400]),
        ("cursor of another list", raw("GET", format!("/api/v1/events?limit=1&cursor={labs_cursor}")), &[400]),
        ("events cursor on labs", raw("GET", format!("/api/v1/labs?limit=1&cursor={events_cursor}")), &[400]),
        ("4k cursor", raw("GET", format!("/api/v1/campaigns?cursor={}", "A".repeat(4_000))), &[400]),
        ("10k cursor", raw("GET", format!("/api/v1/campaigns?cursor={}", "A".repeat(10_000))), &[414]),
        ("change feed since forged", raw("GET", "/api/v1/changes?since=bm9wZQ"), &[400]),
        // Coordinates.
        ("near NaN", raw("GET", "/api/v1/labs?near=NaN,NaN"), &[400]),
        ("near inf", raw("GET", "/api/v1/labs?near=inf,0"), &[400]),
        ("near -infinity", raw("GET", "/api/v1/open-days?near=-infinity,0"), &[400]),
        ("near lat 91", raw("GET", "/api/v1/open-days?near=91,0"), &[400]),
        ("near lon 181", raw("GET", "/api/v1/events?near=0,181"), &[400]),
        ("near 1e308 squared", raw("GET", "/api/v1/labs?near=1e308,1e308"), &[400]),
        ("near three numbers", raw("GET", "/api/v1/labs?near=1,2,3"), &[400]),
        ("near empty", raw("GET", "/api/v1/labs?near="), &[400]),
        ("radius NaN", raw("GET", "/api/v1/labs?near=28.6,115.8&radius_km=NaN"), &[400]),
        ("radius 0", raw("GET", "/api/v1/labs?near=28.6,115.8&radius_km=0"), &[400]),
        ("radius 1e309", raw("GET", "/api/v1/labs?near=28.6,115.8&radius_km=1e309"), &[400]),
        ("radius without near", raw("GET", "/api/v1/labs?radius_km=5"), &[400]),
        ("bbox reversed", raw("GET", "/api/v1/labs.geojson?bbox=120,30,110,20"), &[400]),
        // Division codes.
        ("adcode 5 digits", raw("GET", "/api/v1/events?region=36070"), &[400]),
        ("adcode 7 digits", raw("GET", "/api/v1/labs?region=3607000"), &[400]),
        ("adcode full-width", raw("GET", "/api/v1/labs?region=%EF%BC%93%EF%BC%96%EF%BC%90%EF%BC%97%EF%BC%90%EF%BC%90"), &[400]),
        ("adcode signed", raw("GET", "/api/v1/notices?region=-36070"), &[400]),
        ("adcode path letters", raw("GET", "/api/v1/regions/abcdef"), &[400]),
        ("adcode unknown", raw("GET", "/api/v1/products?region=990000"), &[422]),
        // Dates.
        ("February 30", raw("GET", "/api/v1/events?from=2022-02-30"), &[400]),
        ("month 13", raw("GET", "/api/v1/open-days?from=2022-13-01"), &[400]),
        ("a word for a date", raw("GET", "/api/v1/events?to=yesterday"), &[400]),
        ("instant without offset", raw("GET", "/api/v1/events?updated_since=2024-02-29T10:00:00"), &[400]),
        ("from after to", raw("GET", "/api/v1/events?from=2022-09-20&to=2022-09-19"), &[400]),
        ("valid_on garbage", raw("GET", "/api/v1/products?valid_on=2024-9-1"), &[400]),
        ("product changes without since", raw("GET", "/api/v1/products/changes"), &[400]),
        // Invalid UTF-8 and NUL, in path, query and body.
        ("invalid UTF-8 in path", raw("GET", "/api/v1/events/%FF%FE"), &[400, 404]),
        ("NUL in path", raw("GET", "/api/v1/labs/a%00b"), &[400, 404]),
        ("raw byte 0xFF in the request line", raw("GET", b"/api/v1/labs/\xff".to_vec()), HTTP_LAYER),
        ("invalid UTF-8 in query", raw("GET", "/api/v1/events?q=%FF"), &[400]),
        ("NUL in query", raw("GET", "/api/v1/events?q=a%00b"), &[400]),
        ("NUL in a query name", raw("GET", "/api/v1/events?li%00mit=5"), &[400]),
        ("invalid UTF-8 in body", post("/api/v1/events").json(b"{\"title\":\"\xff\xfe\"}".to_vec()), &[400]),
        ("NUL in a body string", post("/api/v1/events").json(event.replace("\"t\"", "\"a\\u0000b\"")), &[400]),
        ("NUL in an import", post("/api/v1/import?dry_run=true").json(format!("{{\"events\":[{}]}}", event.replace("\"test\"", "\"te\\u0000st\""))), &[400]),
        // Sizes.
        ("16 KiB URL", raw("GET", format!("/api/v1/events?q={}", "a".repeat(16 * 1024))), &[414]),
        ("100 KiB URL", raw("GET", long_query), HTTP_LAYER),
        ("64 KiB header", raw("GET", "/api/v1/events").header("X-Filler", big_header), &[431]),
        ("300 small headers", (0..300).fold(raw("GET", "/api/v1/labs"), |r, i| r.header(&format!("X-{i}"), "1")), HTTP_LAYER),
        ("10 MiB body with Content-Length", post("/api/v1/events").json(ten_mib.clone()), &[413]),
        ("10 MiB body chunked", post("/api/v1/events").json(ten_mib.clone()).chunked(), &[413]),
        ("10 MiB import chunked", post("/api/v1/import").json(ten_mib.clone()).chunked(), &[413]),
        ("10 MiB poster part", post("/api/v1/posters").header("Content-Type", "multipart/form-data; boundary=x").body([b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n".to_vec(), vec![0u8; 21 * 1024 * 1024]].concat()), &[400, 413]),
        ("gzip body inflating to 1 GiB (import)", post("/api/v1/import").json(bomb.clone()).header("Content-Encoding", "gzip"), &[400, 413, 415]),
        ("gzip body inflating to 1 GiB (event)", post("/api/v1/events").json(bomb.clone()).header("Content-Encoding", "gzip").chunked(), &[400, 413, 415]),
        // Deep and duplicated JSON.
        ("100,000 nested arrays", post("/api/v1/events").json(nested(100_000, "[", "]")), &[400]),
        ("100,000 nested objects", post("/api/v1/import").json(nested(100_000, "{\"a\":", "}")), &[400]),
        ("nesting inside a field", post("/api/v1/events").json(format!("{{\"title\":{}}}", String::from_utf8(nested(100_000, "[", "]")).unwrap())), &[400]),
        ("duplicate keys", post("/api/v1/events").json(event.replace("\"title\":\"t\"", "\"title\":\"t\",\"title\":\"u\"")), &[400]),
        ("duplicate keys, nested", post("/api/v1/events").json(event.replace("\"precision\":\"region\"", "\"precision\":\"region\",\"precision\":\"exact\"")), &[400]),
        // Type confusion.
        ("array for a record", post("/api/v1/events").json("[]"), &[400]),
        ("string for a record", post("/api/v1/events").json("\"event\""), &[400]),
        ("null for a record", post("/api/v1/events").json("null"), &[400]),
        ("number for a title", post("/api/v1/events").json(event.replace("\"t\"", "5")), &[400]),
        ("string for a capacity", post("/api/v1/labs/jiangxi-nanchang-food-institute/open-days").json(r#"{"starts_at":"2026-09-01T09:00:00+08:00","ends_at":"2026-09-01T10:00:00+08:00","capacity":"ten"}"#), &[400, 404]),
        ("float for a year", post("/api/v1/campaigns").json(r#"{"kind":"organic_week","year":2026.5,"title":"t","notice_id":"shanxi-2024-209","source":"s"}"#), &[400]),
        ("array for a query value", raw("GET", "/api/v1/events?limit[]=5"), &[400]),
        ("repeated parameter", raw("GET", "/api/v1/events?limit=5&limit=6"), &[400]),
        ("unknown parameter", raw("GET", "/api/v1/labs?foo=1"), &[400]),
        ("boolean spelled differently", raw("GET", "/api/v1/open-days?bookable=yes"), &[400]),
        // Content types.
        ("text/plain body", post("/api/v1/events").header("Content-Type", "text/plain").body(event), &[415]),
        ("no Content-Type", post("/api/v1/events").body(event), &[415]),
        ("XML import", post("/api/v1/import").header("Content-Type", "application/xml").body("<a/>"), &[415]),
        ("JSON sent as CSV", post("/api/v1/import").header("Content-Type", "text/csv").body("{}"), &[400]),
        ("form for JSON", post("/api/v1/notices").header("Content-Type", "application/x-www-form-urlencoded").body("id=x"), &[415]),
        // Methods.
        ("TRACE", raw("TRACE", "/api/v1/events"), &[405]),
        ("PROPFIND", raw("PROPFIND", "/api/v1/labs"), &[405]),
        ("DELETE a collection", raw("DELETE", "/api/v1/events").header("Authorization", bearer.clone()), &[405]),
        ("PUT a list", raw("PUT", "/api/v1/regions").json("{}"), &[405]),
        // Tokens.
        ("10 KiB bearer token", raw("POST", "/api/v1/events").header("Authorization", format!("Bearer {}", "t".repeat(10_240))).json(event), &[401]),
        ("Basic credentials", raw("POST", "/api/v1/events").header("Authorization", "Basic YWRtaW46YWRtaW4=").json(event), &[401]),
        ("control bytes in a token", raw("POST", "/api/v1/events").header("Authorization", b"Bearer twk_\x01\x7f".to_vec()).json(event), HTTP_LAYER),
        ("Latin-1 bytes in a token", raw("POST", "/api/v1/events").header("Authorization", b"Bearer twk_\xe9\xe9".to_vec()).json(event), &[401]),
        ("scope in the body", raw("POST", "/api/v1/events").json(event.replace("\"source\"", "\"scope\":\"national\",\"source\"")), &[401]),
    ];
    assert!(cases.len() >= 60, "{} cases", cases.len());

    let before = server.rss();
    let mut failures = Vec::new();
    for (what, request, allowed) in &cases {
        let answer = exchange(addr, request);
        let problem = answer
            .head
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json");
        let from_http_layer = *allowed == HTTP_LAYER && answer.body.is_empty();
        let named = answer.json()["status"] == answer.status;
        if !allowed.contains(&answer.status) || !(from_http_layer || (problem && named)) {
            failures.push(format!(
                "{what}: {} (allowed {allowed:?}), {}",
                answer.status,
                String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
            ));
        }
        assert!(healthy(addr), "{what}: /healthz failed afterwards");
        assert!(
            server
                .child
                .try_wait()
                .map(|exit| exit.is_none())
                .unwrap_or(false),
            "{what}: the server exited"
        );
    }
    let grown = server.rss().saturating_sub(before);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Ten-MiB bodies were refused as they arrived and the bomb never
    // inflated: what the process holds afterwards is bounded.
    assert!(
        grown < 96 * 1024 * 1024,
        "RSS grew by {} MiB over {} cases",
        grown >> 20,
        cases.len()
    );
    eprintln!(
        "{} hostile cases; RSS grew by {} KiB",
        cases.len(),
        grown >> 10
    );
}
