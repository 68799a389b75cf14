//! Uploading one attempt: size check, automatic retries with backoff under the same attemptId (the
//! server answers a repeated upload with its first answer), waiting for the network to come back.

use std::rc::Rc;

use faceid_core::protocol::{UploadAnswer, UploadReport, MAX_UPLOAD_BYTES};
use faceid_core::ResultCode;

use crate::api::{ApiError, H5Api};

/// Room left for the multipart boundaries and part headers around the video and the report.
pub const MULTIPART_OVERHEAD_BYTES: u64 = 1024;

/// When to try again after a transient failure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Sends in all (the first one included) before giving up with 1008.
    pub max_sends: u32,
    /// Wait before the second send; doubled for every further one.
    pub first_delay_ms: u32,
    /// Upper bound of a single wait.
    pub max_delay_ms: u32,
    /// Times the server may answer "busy, come back after Retry-After" before the page gives up
    /// (1001); these waits do not use up `max_sends`.
    pub max_busy_waits: u32,
    /// A server's Retry-After is kept within this range, so neither a 0 nor a huge value stalls
    /// or hammers.
    pub min_busy_wait_ms: u32,
    pub max_busy_wait_ms: u32,
}

impl Default for RetryPolicy {
    /// Four sends over about 7 s of waiting (1 + 2 + 4 s): long enough for a phone to hand over
    /// between cells or to Wi-Fi, short enough to stay inside the 60 s attempt lifetime. A busy
    /// server may be waited for 12 times (24 s at its usual Retry-After of 2 s): the queue moves
    /// within seconds, and the attempt's 60 s leave room for the upload itself.
    fn default() -> Self {
        RetryPolicy {
            max_sends: 4,
            first_delay_ms: 1_000,
            max_delay_ms: 8_000,
            max_busy_waits: 12,
            min_busy_wait_ms: 1_000,
            max_busy_wait_ms: 10_000,
        }
    }
}

impl RetryPolicy {
    /// The wait after failed send number `failed_send` (1-based).
    pub fn delay_after(&self, failed_send: u32) -> u32 {
        let doublings = failed_send.saturating_sub(1).min(16);
        self.first_delay_ms
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay_ms)
    }
}

/// What the person is told while the upload runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UploadEvent {
    /// Fraction of the current send that has gone out, 0..=1.
    Progress(f32),
    /// Send number `send` failed; trying again after `delay_ms`.
    Retrying { send: u32, delay_ms: u32 },
    /// The browser is offline; waiting for the `online` event.
    WaitingForNetwork,
    /// The server is busy; sending again after `delay_ms`.
    Busy { delay_ms: u32 },
}

/// Timers and connectivity, so the policy can run against a fake clock in tests.
#[allow(async_fn_in_trait)] // used single-threaded in the browser; no Send bound wanted
pub trait UploadEnvironment {
    async fn sleep(&self, ms: u32);
    fn is_online(&self) -> bool;
    /// Resolves when the browser reports it is online again.
    async fn until_online(&self);
}

/// Checks the sizes before anything is sent: an empty recording or one over the limit is 1107.
pub fn check_upload_size(
    video_bytes: u64,
    report_bytes: u64,
    limit: u64,
) -> Result<(), ResultCode> {
    let limit = limit.min(MAX_UPLOAD_BYTES);
    let total = video_bytes
        .saturating_add(report_bytes)
        .saturating_add(MULTIPART_OVERHEAD_BYTES);
    if video_bytes == 0 || total > limit {
        Err(ResultCode::VideoEmptyOrTooLarge)
    } else {
        Ok(())
    }
}

/// Sends the recording until the server answers, a non-transient error comes back, or the retry
/// budget is spent (→ 1008). Offline periods do not use up the budget; a busy server (503 with
/// Retry-After) is waited for as it asks, up to `max_busy_waits` times (→ 1001).
#[allow(clippy::too_many_arguments)] // one call site per side; a struct would only rename them
pub async fn upload_with_retries<A: H5Api, E: UploadEnvironment>(
    api: &A,
    env: &E,
    policy: RetryPolicy,
    token: &str,
    attempt_id: &str,
    video: &A::Video,
    report: &UploadReport,
    on_event: Rc<dyn Fn(UploadEvent)>,
) -> Result<UploadAnswer, ResultCode> {
    let progress: Rc<dyn Fn(f32)> = {
        let on_event = on_event.clone();
        Rc::new(move |f: f32| on_event(UploadEvent::Progress(f.clamp(0.0, 1.0))))
    };
    let mut send = 0;
    let mut busy_waits = 0;
    loop {
        if !env.is_online() {
            on_event(UploadEvent::WaitingForNetwork);
            env.until_online().await;
        }
        send += 1;
        on_event(UploadEvent::Progress(0.0));
        match api
            .upload_video(token, attempt_id, video, report, progress.clone())
            .await
        {
            Ok(answer) => return Ok(answer),
            Err(ApiError::Busy { retry_after_ms }) => {
                send -= 1;
                busy_waits += 1;
                if busy_waits > policy.max_busy_waits {
                    return Err(ResultCode::EngineTimeout);
                }
                let delay_ms =
                    retry_after_ms.clamp(policy.min_busy_wait_ms, policy.max_busy_wait_ms);
                on_event(UploadEvent::Busy { delay_ms });
                env.sleep(delay_ms).await;
            }
            Err(e) if e.is_transient() => {
                // A failure while offline is the network going away, not a reason to spend budget.
                if !env.is_online() {
                    send -= 1;
                    continue;
                }
                if send >= policy.max_sends.max(1) {
                    return Err(ResultCode::NetworkUnstable);
                }
                let delay_ms = policy.delay_after(send);
                on_event(UploadEvent::Retrying { send, delay_ms });
                env.sleep(delay_ms).await;
            }
            Err(e) => return Err(e.result_code()),
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::cell::{Cell, RefCell};

    use super::*;
    use crate::api::MemoryApi;
    use faceid_core::protocol::H5Error;
    use faceid_core::Locale;

    struct FakeEnv {
        slept: RefCell<Vec<u32>>,
        offline_checks: Cell<u32>,
        waited_online: Cell<u32>,
    }

    impl UploadEnvironment for FakeEnv {
        async fn sleep(&self, ms: u32) {
            self.slept.borrow_mut().push(ms);
        }
        fn is_online(&self) -> bool {
            let left = self.offline_checks.get();
            if left > 0 {
                self.offline_checks.set(left - 1);
                false
            } else {
                true
            }
        }
        async fn until_online(&self) {
            self.waited_online.set(self.waited_online.get() + 1);
        }
    }

    fn env(offline_checks: u32) -> FakeEnv {
        FakeEnv {
            slept: RefCell::default(),
            offline_checks: Cell::new(offline_checks),
            waited_online: Cell::new(0),
        }
    }

    fn report() -> UploadReport {
        UploadReport {
            shown: vec![],
            hold_start_ms: Some(0.0),
            recorder_mime: "video/webm".into(),
            frame_width: 640,
            frame_height: 480,
            page_decode: None,
            user_agent: "test".into(),
        }
    }

    fn passed() -> UploadAnswer {
        UploadAnswer {
            err_code: ResultCode::Passed,
            err_msg: "ok".into(),
            passed: true,
            retries_left: 2,
            redirect_url: None,
        }
    }

    fn api(answers: Vec<Result<UploadAnswer, ApiError>>) -> MemoryApi {
        MemoryApi::new(
            Err(ApiError::Status(500)),
            Err(ApiError::Status(500)),
            answers,
        )
    }

    /// Uploads a 3-byte video as attempt "ATT-1" of token "TOK"; returns the result and every
    /// event the person would have been shown.
    fn upload(
        api: &MemoryApi,
        env: &FakeEnv,
        policy: RetryPolicy,
    ) -> (Result<UploadAnswer, ResultCode>, Vec<UploadEvent>) {
        let events = Rc::new(RefCell::new(vec![]));
        let sink = events.clone();
        let result = pollster::block_on(upload_with_retries(
            api,
            env,
            policy,
            "TOK",
            "ATT-1",
            &vec![1, 2, 3],
            &report(),
            Rc::new(move |e| sink.borrow_mut().push(e)),
        ));
        let events = events.take();
        (result, events)
    }

    #[test]
    fn retries_network_failures_with_the_same_attempt() {
        let api = api(vec![
            Err(ApiError::Network("reset".into())),
            Err(ApiError::Status(503)),
            Ok(passed()),
        ]);
        let env = env(0);
        let (answer, events) = upload(&api, &env, RetryPolicy::default());
        assert_eq!(answer, Ok(passed()));
        let ups = api.uploads();
        assert_eq!(ups.len(), 3);
        assert!(ups
            .iter()
            .all(|u| u.attempt_id == "ATT-1" && u.token == "TOK" && u.video_len == 3));
        assert_eq!(*env.slept.borrow(), vec![1_000, 2_000]);
        assert!(events.contains(&UploadEvent::Retrying {
            send: 2,
            delay_ms: 2_000
        }));
        assert_eq!(events.last(), Some(&UploadEvent::Progress(1.0)));
    }

    #[test]
    fn gives_up_with_1008_and_stops_on_server_errors() {
        let api1 = api((0..10)
            .map(|_| Err(ApiError::Network("down".into())))
            .collect());
        let policy = RetryPolicy {
            max_sends: 3,
            first_delay_ms: 10,
            max_delay_ms: 15,
            ..RetryPolicy::default()
        };
        let (r, _) = upload(&api1, &env(0), policy);
        assert_eq!(r, Err(ResultCode::NetworkUnstable));
        assert_eq!(api1.uploads().len(), 3);

        let too_large = ApiError::Server {
            status: 413,
            error: H5Error::new(ResultCode::VideoEmptyOrTooLarge, Locale::En),
        };
        let api2 = api(vec![Err(too_large), Ok(passed())]);
        let (r, _) = upload(&api2, &env(0), policy);
        assert_eq!(r, Err(ResultCode::VideoEmptyOrTooLarge));
        assert_eq!(api2.uploads().len(), 1);
    }

    #[test]
    fn waits_for_the_network_without_spending_budget() {
        let api = api(vec![Ok(passed())]);
        let env = env(1);
        let policy = RetryPolicy {
            max_sends: 1,
            ..RetryPolicy::default()
        };
        let (r, events) = upload(&api, &env, policy);
        assert_eq!(r, Ok(passed()));
        assert_eq!(env.waited_online.get(), 1);
        assert_eq!(events[0], UploadEvent::WaitingForNetwork);
    }

    #[test]
    fn waits_as_a_busy_server_asks_without_spending_sends() {
        let busy = |ms| Err(ApiError::Busy { retry_after_ms: ms });
        // Retry-After 2 s, then 0 and an hour (kept within 1-10 s), then the answer; one send
        // allowed, yet the busy answers did not use it up.
        let api1 = api(vec![busy(2_000), busy(0), busy(3_600_000), Ok(passed())]);
        let env1 = env(0);
        let policy = RetryPolicy {
            max_sends: 1,
            ..RetryPolicy::default()
        };
        let (r, events) = upload(&api1, &env1, policy);
        assert_eq!(r, Ok(passed()));
        assert_eq!(*env1.slept.borrow(), vec![2_000, 1_000, 10_000]);
        assert!(events.contains(&UploadEvent::Busy { delay_ms: 2_000 }));
        assert!(api1.uploads().iter().all(|u| u.attempt_id == "ATT-1"));

        // Still busy after every wait allowed: the engine could not be reached (1001).
        let api2 = api((0..10).map(|_| busy(1_000)).collect());
        let policy = RetryPolicy {
            max_busy_waits: 3,
            ..RetryPolicy::default()
        };
        let (r, _) = upload(&api2, &env(0), policy);
        assert_eq!(r, Err(ResultCode::EngineTimeout));
        assert_eq!(api2.uploads().len(), 4);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(
            (1..=6).map(|n| p.delay_after(n)).collect::<Vec<_>>(),
            vec![1_000, 2_000, 4_000, 8_000, 8_000, 8_000]
        );
        assert_eq!(p.delay_after(u32::MAX), 8_000);
    }

    #[test]
    fn size_limits() {
        assert_eq!(
            check_upload_size(0, 10, MAX_UPLOAD_BYTES),
            Err(ResultCode::VideoEmptyOrTooLarge)
        );
        assert_eq!(check_upload_size(1_000_000, 500, MAX_UPLOAD_BYTES), Ok(()));
        assert_eq!(
            check_upload_size(MAX_UPLOAD_BYTES, 0, MAX_UPLOAD_BYTES),
            Err(ResultCode::VideoEmptyOrTooLarge)
        );
        // A session limit above the protocol's 8 MB is capped at 8 MB.
        assert_eq!(
            check_upload_size(MAX_UPLOAD_BYTES, 0, u64::MAX),
            Err(ResultCode::VideoEmptyOrTooLarge)
        );
        assert_eq!(
            check_upload_size(2_000, 0, 2_000),
            Err(ResultCode::VideoEmptyOrTooLarge)
        );
    }
}
