//! The request timeout, held by the transport: a timed-out request is a failure the
//! transport classifies (`ErrorKind::Timeout`) and after which its connection is dropped.

use std::time::Duration;

/// A VU's request timeout: one timer entry whose deadline moves later for every request.
///
/// `tokio::time::timeout` creates, registers and removes a timer entry per request (~340
/// user-space instructions per request, callgrind). Moving an armed entry's deadline later
/// is one compare-and-swap in tokio; the wheel re-files the entry only when its old time
/// comes. An entry left armed after a fast response at most wakes its idle VU once, which
/// then polls nothing that is ready.
#[derive(Default)]
pub struct Deadline {
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl Deadline {
    /// Runs `fut` for at most `limit`; `None` when the limit came first (`fut` is dropped).
    pub async fn within<F: std::future::Future>(
        &mut self,
        limit: Duration,
        fut: F,
    ) -> Option<F::Output> {
        let now = tokio::time::Instant::now();
        // A limit too far to represent is no limit: a year is as good as forever here.
        let at = now
            .checked_add(limit)
            .unwrap_or(now + Duration::from_secs(365 * 86_400));
        let sleep = match &mut self.sleep {
            Some(s) => {
                s.as_mut().reset(at);
                s
            }
            None => self.sleep.insert(Box::pin(tokio::time::sleep_until(at))),
        };
        let mut fut = std::pin::pin!(fut);
        std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(v) = fut.as_mut().poll(cx) {
                return std::task::Poll::Ready(Some(v));
            }
            // Unconstrained, as `tokio::time::timeout` does it: a response that streams
            // without pause spends the task's coop budget in `fut` on every poll, and a
            // budgeted sleep would then never see its deadline.
            std::pin::pin!(tokio::task::coop::unconstrained(sleep.as_mut()))
                .poll(cx)
                .map(|()| None)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_deadline_moves_later_and_earlier_and_survives_firing() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let ms = Duration::from_millis;
        rt.block_on(async {
            let mut d = Deadline::default();
            let quick = || tokio::time::sleep(ms(1));
            assert_eq!(d.within(ms(200), quick()).await, Some(()));
            // Later than the armed deadline: the entry is only moved.
            assert_eq!(d.within(ms(400), quick()).await, Some(()));
            // Earlier than the armed deadline: it must still fire on time.
            let t = Instant::now();
            assert_eq!(d.within(ms(20), std::future::pending::<()>()).await, None);
            let took = t.elapsed();
            assert!(took >= ms(20) && took < ms(2_000), "{took:?}");
            // After firing, the same entry is armed again.
            assert_eq!(d.within(ms(200), quick()).await, Some(()));
            assert_eq!(d.within(ms(10), std::future::pending::<()>()).await, None);
            // No representable end: no limit.
            assert_eq!(d.within(Duration::MAX, quick()).await, Some(()));
        });
    }
}
