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
use actix_web::http::header::{HeaderName, HeaderValue, RETRY_AFTER};
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

pub struct RateLimits {
    mode: Mode,
    budgets: Budgets,
    reads: Keyed,
    writes: Keyed,
    token_failures: Keyed,
    /// Clients whose token failures are spent, and until when.
    penalized: Mutex<HashMap<IpAddr, Instant>>,
    clock: DefaultClock,
}

impl RateLimits {
    pub fn new(mode: Mode, budgets: Budgets) -> Self {
        let keyed = |b: Budget| RateLimiter::dashmap(b.quota()).with_middleware();
        Self {
            mode,
            budgets,
            reads: keyed(budgets.reads),
            writes: keyed(budgets.writes),
            token_failures: keyed(budgets.token_failures),
            penalized: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
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
        for limiter in [&self.reads, &self.writes, &self.token_failures] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = Instant::now();
        if let Ok(mut penalized) = self.penalized.lock() {
            penalized.retain(|_, until| *until > now);
        }
    }
}

/// What a budget says about one request.
struct Verdict {
    name: &'static str,
    budget: Budget,
    /// `Ok(remaining)` or `Err(wait)`.
    outcome: Result<u32, Duration>,
}

impl Verdict {
    fn of(
        name: &'static str,
        budget: Budget,
        limiter: &Keyed,
        ip: IpAddr,
        clock: &DefaultClock,
    ) -> Self {
        let outcome = limiter
            .check_key(&ip)
            .map(|state| state.remaining_burst_capacity())
            .map_err(|not_until| not_until.wait_time_from(clock.now()));
        Self {
            name,
            budget,
            outcome,
        }
    }

    /// `RateLimit-Policy` and `RateLimit`, in the draft's structured fields.
    fn headers(&self) -> [(HeaderName, String); 2] {
        let Budget { burst, window } = self.budget;
        let per_unit = window.as_secs_f64() / f64::from(burst.max(1));
        let (remaining, reset) = match self.outcome {
            Ok(r) => (r, per_unit * f64::from(burst.saturating_sub(r))),
            Err(wait) => (
                0,
                wait.as_secs_f64() + per_unit * f64::from(burst.saturating_sub(1)),
            ),
        };
        [
            (
                HeaderName::from_static("ratelimit-policy"),
                format!("\"{}\";q={burst};w={}", self.name, window.as_secs()),
            ),
            (
                HeaderName::from_static("ratelimit"),
                format!("\"{}\";r={remaining};t={}", self.name, reset.ceil() as u64),
            ),
        ]
    }

    /// The problem and the `Retry-After` seconds of a refusal.
    fn refusal(&self, wait: Duration) -> (ApiError, u64) {
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        let detail = format!(
            "too many {} from this client: {} at once, refilled over {} s; retry in {seconds} s",
            self.name,
            self.budget.burst,
            self.budget.window.as_secs()
        );
        (
            ApiError::status(StatusCode::TOO_MANY_REQUESTS, detail),
            seconds,
        )
    }
}

/// The 429 answer to `req`.
fn refuse<B>(
    req: ServiceRequest,
    (error, seconds): (ApiError, u64),
    verdict: &Verdict,
) -> ServiceResponse<EitherBody<B>> {
    let mut response = error.error_response();
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    for (name, value) in verdict.headers() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    req.into_response(response).map_into_right_body()
}

pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limits = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.rate_limits());
    let ip = req.peer_addr().map(|addr| addr.ip());
    let (Some(limits), Some(ip)) = (limits, ip) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    if !limits.applies_to(ip) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !read {
        let until = limits
            .penalized
            .lock()
            .ok()
            .and_then(|p| p.get(&ip).copied());
        if let Some(wait) = until.and_then(|u| u.checked_duration_since(Instant::now())) {
            let verdict = Verdict {
                name: "token-failures",
                budget: limits.budgets.token_failures,
                outcome: Err(wait),
            };
            let refusal = verdict.refusal(wait);
            return Ok(refuse(req, refusal, &verdict));
        }
    }
    let verdict = if read {
        Verdict::of(
            "reads",
            limits.budgets.reads,
            &limits.reads,
            ip,
            &limits.clock,
        )
    } else {
        Verdict::of(
            "writes",
            limits.budgets.writes,
            &limits.writes,
            ip,
            &limits.clock,
        )
    };
    if let Err(wait) = verdict.outcome {
        let refusal = verdict.refusal(wait);
        return Ok(refuse(req, refusal, &verdict));
    }
    let mut res = next.call(req).await?;
    match res.status() {
        // A full answer to a read costs a second unit; a 304 does not.
        status if read && status != StatusCode::NOT_MODIFIED => {
            let _ = limits.reads.check_key(&ip);
        }
        StatusCode::UNAUTHORIZED => {
            let failure = Verdict::of(
                "token-failures",
                limits.budgets.token_failures,
                &limits.token_failures,
                ip,
                &limits.clock,
            );
            if let (Err(wait), Ok(mut penalized)) = (failure.outcome, limits.penalized.lock()) {
                penalized.insert(ip, Instant::now() + wait);
            }
        }
        _ => {}
    }
    for (name, value) in verdict.headers() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            res.headers_mut().insert(name, value);
        }
    }
    Ok(res.map_into_left_body())
}
