//! Sub-millisecond sleeps for intended send times.
//!
//! tokio's timer wheel has a 1 ms resolution and rounds deadlines up, so a request due at
//! t would leave up to 1 ms late, and at 1,000 req/s the reported latency of a 50 µs server
//! would be ≈ 900 µs of our own lateness. A CLOCK_MONOTONIC `timerfd` (the clock `Instant`
//! reads on Linux), armed for the time left until the due time, wakes the runtime within
//! the kernel's timer slack (≈ 50 µs) instead. Used only where a schedule decides the send
//! time; think times and stage gating keep tokio's timer. (Relative arming also keeps the
//! timer free of rustix's vDSO lookup, which crashes under valgrind.)

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};
use tokio::io::unix::AsyncFd;

pub struct PreciseTimer {
    fd: Option<AsyncFd<OwnedFd>>,
    /// Wakes a sleep early when there is no timerfd.
    woken: tokio::sync::Notify,
}

impl PreciseTimer {
    /// A timer on the current runtime; falls back to tokio's timer if no timerfd is available.
    pub fn new() -> PreciseTimer {
        let fd = rustix::time::timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )
        .ok()
        .and_then(register);
        PreciseTimer {
            fd,
            woken: tokio::sync::Notify::new(),
        }
    }

    /// Sleeps until `at`; true when `at` came, false when [`PreciseTimer::wake`] cut the
    /// sleep short (a command changed the schedule: the caller asks it again).
    pub async fn sleep_until(&self, at: Instant) -> bool {
        let now = Instant::now();
        if at <= now {
            return true;
        }
        let Some(fd) = &self.fd else {
            return self.sleep_fallback(at).await;
        };
        // Armed relative to the `Instant` just read: the same clock, to within the few
        // nanoseconds between the read and the syscall.
        if self.arm(fd, at - now).is_err() {
            return self.sleep_fallback(at).await;
        }
        let mut buf = [0u8; 8];
        loop {
            let Ok(mut guard) = fd.readable().await else {
                return self.sleep_fallback(at).await;
            };
            match rustix::io::read(guard.get_inner(), &mut buf) {
                Ok(_) => return Instant::now() >= at,
                Err(rustix::io::Errno::AGAIN) => guard.clear_ready(),
                Err(_) => return self.sleep_fallback(at).await,
            }
        }
    }

    /// Ends the current (or the next) sleep at once.
    pub fn wake(&self) {
        match &self.fd {
            // One nanosecond from now: the timer expires at once (zero would disarm it).
            Some(fd) => {
                if self.arm(fd, Duration::from_nanos(1)).is_err() {
                    self.woken.notify_one();
                }
            }
            None => self.woken.notify_one(),
        }
    }

    /// Arms the timer to expire `after` from now.
    fn arm(&self, fd: &AsyncFd<OwnedFd>, after: Duration) -> rustix::io::Result<()> {
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: after.as_secs() as _,
                tv_nsec: after.subsec_nanos() as _,
            },
        };
        rustix::time::timerfd_settime(fd.get_ref(), TimerfdTimerFlags::empty(), &spec).map(drop)
    }

    async fn sleep_fallback(&self, at: Instant) -> bool {
        tokio::select! {
            _ = tokio::time::sleep_until(at.into()) => true,
            _ = self.woken.notified() => Instant::now() >= at,
        }
    }
}

/// Registers the timerfd with the current runtime's reactor.
#[allow(unsafe_code)]
fn register(fd: OwnedFd) -> Option<AsyncFd<OwnedFd>> {
    // SAFETY: an `OwnedFd` is an open descriptor that it alone closes, and its `as_raw_fd`
    // returns that same descriptor for as long as the `AsyncFd` owns it.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_at_the_due_time_not_before() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let t = PreciseTimer::new();
            for ms in [1u64, 3, 2] {
                let due = Instant::now() + Duration::from_millis(ms);
                t.sleep_until(due).await;
                assert!(Instant::now() >= due);
            }
            // Not much after, either: due times spread over a millisecond's fractions, the
            // median lateness is the wake-up's (tens of µs). A timer on tokio's 1 ms wheel
            // rounds each up to the next millisecond, a median of ≥ 500 µs; 300 µs lies
            // between, and a median ignores the odd preemption on a busy machine.
            let mut late: Vec<Duration> = Vec::new();
            for k in 0..41u64 {
                let due = Instant::now() + Duration::from_micros(1_000 + k * 25);
                t.sleep_until(due).await;
                late.push(Instant::now() - due);
            }
            late.sort();
            assert!(late[20] < Duration::from_micros(300), "{late:?}");
            // A deadline in the past returns at once.
            assert!(
                t.sleep_until(Instant::now() - Duration::from_millis(5))
                    .await
            );
            // A wake ends a long sleep early, and says so.
            let t = std::rc::Rc::new(t);
            let waker = t.clone();
            let local = tokio::task::LocalSet::new();
            local
                .run_until(async move {
                    tokio::task::spawn_local(async move {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        waker.wake();
                    });
                    let start = Instant::now();
                    let reached = t.sleep_until(start + Duration::from_secs(30)).await;
                    assert!(!reached);
                    assert!(start.elapsed() < Duration::from_secs(10));
                    // The next sleep is a normal one.
                    let due = Instant::now() + Duration::from_millis(2);
                    assert!(t.sleep_until(due).await);
                    assert!(Instant::now() >= due);
                })
                .await;
        });
    }
}
