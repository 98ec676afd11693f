//! Per-client rate limits (GCRA, the `governor` crate), keyed by the peer's
//! IP address: generous for reads, strict for writes, stricter still for
//! failed bearer tokens. A refused request gets 429 with `Retry-After`; every
//! limited answer carries the IETF draft's `RateLimit-Policy` and `RateLimit`
//! headers (draft-ietf-httpapi-ratelimit-headers). A `304` costs one unit, any
//! other read two: a client that revalidates what it holds can poll twice as
//! often as one that downloads it again.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::AppState;
use crate::error::ApiError;

type Keyed =
    RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock, StateInformationMiddleware>;

/// Who is limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Every client.
    On,
    /// Every client but those on this machine (127.0.0.1, ::1): for a
    /// benchmark or a test that loads the server from the same host.
    Remote,
    /// Nobody.
    Off,
}

/// One budget: `burst` requests at once, refilled at `burst` per `window`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub burst: u32,
    pub window: Duration,
}

impl Budget {
    fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(self.window / burst.get())
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst)
    }
}

/// The budgets per client; `ticweek serve` takes them from its flags.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    pub reads: Budget,
    pub writes: Budget,
    /// Requests answered 401 (an unknown or revoked token); once spent,
    /// every write from that client is refused until it refills.
    pub token_failures: Budget,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            reads: Budget {
                burst: 600,
                window: Duration::from_secs(30),
            },
            writes: Budget {
                burst: 60,
                window: Duration::from_secs(60),
            },
            token_failures: Budget {
                burst: 10,
                window: Duration::from_secs(600),
            },
        }
    }
}

/// One budget's limiter, by name (as the `RateLimit` headers name it).
struct Bucket {
    name: &'static str,
    budget: Budget,
    limiter: Keyed,
}

impl Bucket {
    fn new(name: &'static str, budget: Budget) -> Self {
        Self {
            name,
            budget,
            limiter: RateLimiter::dashmap(budget.quota()).with_middleware(),
        }
    }

    /// Spends one unit of `ip`'s budget, if there is one.
    fn spend(&self, ip: IpAddr) -> Verdict<'_> {
        let outcome = self
            .limiter
            .check_key(&ip)
            .map(|state| state.remaining_burst_capacity())
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()));
        Verdict {
            bucket: self,
            outcome,
        }
    }
}

pub struct RateLimits {
    mode: Mode,
    reads: Bucket,
    writes: Bucket,
    token_failures: Bucket,
    /// Clients whose token failures are spent, and until when.
    penalized: Mutex<HashMap<IpAddr, Instant>>,
}

impl RateLimits {
    pub fn new(mode: Mode, budgets: Budgets) -> Self {
        Self {
            mode,
            reads: Bucket::new("reads", budgets.reads),
            writes: Bucket::new("writes", budgets.writes),
            token_failures: Bucket::new("token-failures", budgets.token_failures),
            penalized: Mutex::new(HashMap::new()),
        }
    }

    fn applies_to(&self, ip: IpAddr) -> bool {
        match self.mode {
            Mode::On => true,
            Mode::Remote => !ip.is_loopback(),
            Mode::Off => false,
        }
    }

    /// Forgets clients whose budgets are full again (called now and then).
    pub fn forget_idle(&self) {
        for bucket in [&self.reads, &self.writes, &self.token_failures] {
            bucket.limiter.retain_recent();
            bucket.limiter.shrink_to_fit();
        }
        let now = Instant::now();
        if let Ok(mut penalized) = self.penalized.lock() {
            penalized.retain(|_, until| *until > now);
        }
    }
}

/// What a budget says about one request: `Ok(remaining)` or `Err(wait)`.
struct Verdict<'a> {
    bucket: &'a Bucket,
    outcome: Result<u32, Duration>,
}

impl Verdict<'_> {
    /// `RateLimit-Policy` and `RateLimit`, in the draft's structured fields.
    fn put_headers(&self, headers: &mut HeaderMap) {
        let (name, Budget { burst, window }) = (self.bucket.name, self.bucket.budget);
        let per_unit = window.as_secs_f64() / f64::from(burst.max(1));
        let (remaining, reset) = match self.outcome {
            Ok(r) => (r, per_unit * f64::from(burst.saturating_sub(r))),
            Err(wait) => (
                0,
                wait.as_secs_f64() + per_unit * f64::from(burst.saturating_sub(1)),
            ),
        };
        for (header, value) in [
            (
                "ratelimit-policy",
                format!("\"{name}\";q={burst};w={}", window.as_secs()),
            ),
            (
                "ratelimit",
                format!("\"{name}\";r={remaining};t={}", reset.ceil() as u64),
            ),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(header), value);
            }
        }
    }
}

/// The 429 answer to `req`, which must wait `wait`.
fn refuse<B>(
    req: ServiceRequest,
    verdict: &Verdict,
    wait: Duration,
) -> ServiceResponse<EitherBody<B>> {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    let Bucket { name, budget, .. } = verdict.bucket;
    let detail = format!(
        "too many {name} from this client: {} at once, refilled over {} s; retry in {seconds} s",
        budget.burst,
        budget.window.as_secs()
    );
    let mut response = ApiError::status(StatusCode::TOO_MANY_REQUESTS, detail).error_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    verdict.put_headers(response.headers_mut());
    req.into_response(response).map_into_right_body()
}

pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limited = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.rate_limits())
        .zip(req.peer_addr().map(|addr| addr.ip()))
        .filter(|(limits, ip)| limits.applies_to(*ip));
    let Some((limits, ip)) = limited else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !read {
        let until = limits
            .penalized
            .lock()
            .ok()
            .and_then(|p| p.get(&ip).copied());
        if let Some(wait) = until.and_then(|u| u.checked_duration_since(Instant::now())) {
            let verdict = Verdict {
                bucket: &limits.token_failures,
                outcome: Err(wait),
            };
            return Ok(refuse(req, &verdict, wait));
        }
    }
    let verdict = if read { &limits.reads } else { &limits.writes }.spend(ip);
    if let Err(wait) = verdict.outcome {
        return Ok(refuse(req, &verdict, wait));
    }
    let mut res = next.call(req).await?;
    match res.status() {
        // A full answer to a read costs a second unit; a 304 does not.
        status if read && status != StatusCode::NOT_MODIFIED => {
            limits.reads.spend(ip);
        }
        StatusCode::UNAUTHORIZED => {
            let failure = limits.token_failures.spend(ip);
            if let (Err(wait), Ok(mut penalized)) = (failure.outcome, limits.penalized.lock()) {
                penalized.insert(ip, Instant::now() + wait);
            }
        }
        _ => {}
    }
    verdict.put_headers(res.headers_mut());
    Ok(res.map_into_left_body())
}
