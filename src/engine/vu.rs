//! Virtual users: the load models' loops, which decide *when* each iteration is due; the
//! [`Client`] decides how its requests go out.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::client::Client;
use super::shared::{Mailbox, Shared};
use super::timer::PreciseTimer;
use crate::plan::load_model::Shape;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// A closed-model VU with global index `j`: active while the VU curve is above `j`; with
/// `-r`, each request takes the thread's next slot of the shared schedule.
pub(super) async fn closed_vu(shared: &Shared, j: u64, mut client: Client) {
    let Shape::Closed {
        vus, think_time, ..
    } = &shared.plan.load.shape
    else {
        return;
    };
    let mut active = false;
    let timer = shared.slots.as_ref().map(|_| PreciseTimer::new());
    // Until when this VU is known to be active: the stage curve is consulted only when its
    // level may have crossed `j`, not on every request.
    let mut active_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if active_until.is_none_or(|u| now >= u) {
            let t = now.saturating_duration_since(shared.t_load);
            match vus.first_above(j as f64, t) {
                None => break,
                Some(at) if at > t => {
                    shared.set_vu_active(&mut active, false);
                    active_until = None;
                    shared.sleep_until(shared.t_load + at).await;
                    continue;
                }
                Some(_) => {
                    shared.set_vu_active(&mut active, true);
                    let until = vus.above_until(j as f64, t);
                    active_until = Some(
                        shared
                            .t_load
                            .checked_add(until)
                            .unwrap_or(now + Duration::from_secs(86_400 * 365)),
                    );
                }
            }
        }
        if shared.wait_if_paused().await {
            continue;
        }
        let intended = match &shared.slots {
            Some(slots) => {
                let Some(off) = slots.borrow_mut().next_arrival() else {
                    break;
                };
                let due = shared.t_load + secs(off);
                if shared.due_in_pause(due) {
                    continue;
                }
                if !shared.may_start(due) {
                    break;
                }
                if let Some(t) = &timer {
                    t.sleep_until(due).await;
                }
                due
            }
            None => {
                if !shared.may_start(now) {
                    break;
                }
                now
            }
        };
        client.iteration(shared, intended).await;
        if !think_time.is_zero() {
            shared.sleep_until(Instant::now() + *think_time).await;
        }
    }
    shared.set_vu_active(&mut active, false);
}

pub(super) async fn open_vu(shared: &Shared, mailbox: Rc<Mailbox>, mut client: Client) {
    let mut active = false;
    shared.set_vu_active(&mut active, true);
    loop {
        match mailbox.job.take() {
            Some(due) => {
                client.iteration(shared, due).await;
                shared.idle.borrow_mut().push(mailbox.clone());
            }
            None if mailbox.closing.get() => break,
            None => mailbox.wake.notified().await,
        }
    }
    shared.set_vu_active(&mut active, false);
}

/// Hands each due iteration of this thread's schedule to a free VU, starting VUs up to the
/// thread's share of `max_vus` and counting the rest as dropped.
pub(super) async fn dispatch(shared: Rc<Shared>, max_vus: u64) {
    let mut schedule = shared.schedule();
    let timer = PreciseTimer::new();
    let mut spawned = 0u64;
    let mut mailboxes: Vec<Rc<Mailbox>> = Vec::new();
    while let Some(off) = schedule.next_arrival() {
        let due = shared.t_load + secs(off);
        if shared.past_end(due) {
            break;
        }
        timer.sleep_until(due).await;
        // Paused when this fell due: skip it, and everything due during the pause.
        if shared.wait_if_paused().await || shared.due_in_pause(due) {
            continue;
        }
        if shared.stopping.get() {
            break;
        }
        let idle = shared.idle.borrow_mut().pop();
        let mailbox = match idle {
            Some(m) => m,
            None if spawned < max_vus => {
                let m = Mailbox::new();
                mailboxes.push(m.clone());
                let client = Client::new(&shared, spawned);
                spawned += 1;
                shared.task_started();
                let (s, mb) = (shared.clone(), m.clone());
                tokio::task::spawn_local(async move {
                    open_vu(&s, mb, client).await;
                    s.task_finished();
                });
                m
            }
            None => {
                shared.dropped(due);
                continue;
            }
        };
        if !shared.may_start(due) {
            shared.idle.borrow_mut().push(mailbox);
            break;
        }
        mailbox.give(due);
    }
    for m in &mailboxes {
        m.close();
    }
}
