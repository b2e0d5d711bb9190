//! Virtual users: the load models' loops, which decide *when* each iteration is due; the
//! [`Client`] decides how its requests go out.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::client::Client;
use super::schedule::{HORIZON, Next};
use super::shared::{Mailbox, Shared};
use super::timer::PreciseTimer;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// Far enough to mean "until a command or the end": no run is planned this far ahead.
const FOREVER: f64 = 1e9;

/// The next due time from the thread's schedule, for a caller whose clock reads `clock`:
/// sleeps through [`Next::Wait`], and asks again when a command took back the arrival it
/// was sleeping for. `None`: the schedule has ended, the run is stopping or past its end.
async fn next_due(shared: &Shared, timer: &PreciseTimer, clock: &mut Instant) -> Option<Instant> {
    let schedule = shared.schedule.as_ref()?;
    loop {
        if shared.stopping.get() {
            return None;
        }
        if shared.command_waiting() {
            // A command is on its way: let the control task apply it before planning on.
            tokio::task::yield_now().await;
            continue;
        }
        let epoch = shared.epoch.get();
        let next = schedule.borrow_mut().next_arrival(shared.horizon(*clock));
        match next {
            Next::End => return None,
            Next::Wait(until) => {
                // Ask again when the clock is within the horizon of `until`, at the end of
                // the run at the latest; a command wakes the timer earlier.
                let wake = shared.t_load + secs((until - HORIZON.as_secs_f64()).min(FOREVER));
                let wake = shared.deadline.map_or(wake, |d| wake.min(d));
                if timer.sleep_until(wake).await {
                    if shared.past_end(wake) {
                        return None;
                    }
                    *clock = wake;
                }
            }
            Next::At(off) => {
                let due = shared.t_load + secs(off);
                if shared.past_end(due) {
                    return None;
                }
                loop {
                    if timer.sleep_until(due).await {
                        *clock = due;
                        return Some(due);
                    }
                    if shared.stopping.get() {
                        return None;
                    }
                    if shared.epoch.get() != epoch && off >= schedule.borrow().taken_back() {
                        break; // taken back: ask again
                    }
                }
            }
        }
    }
}

/// A closed-model VU with global index `j`: active while the VU curve is above `j`; with
/// `-r`, each request takes the thread's next slot of the shared schedule.
pub(super) async fn closed_vu(shared: &Shared, j: u64, mut client: Client) {
    let mut active = false;
    let timer = shared.schedule.as_ref().map(|_| shared.schedule_timer());
    let mut clock = Instant::now();
    // Until when this VU is known to be active: the stage curve is consulted only when its
    // level may have crossed `j` (or a command changed it), not on every request.
    let mut active_until: Option<Instant> = None;
    let mut epoch = shared.vu_epoch.get();
    client.open(shared).await;
    loop {
        let now = Instant::now();
        if shared.vu_epoch.get() != epoch {
            epoch = shared.vu_epoch.get();
            active_until = None;
        }
        if active_until.is_none_or(|u| now >= u) {
            let t = now.saturating_duration_since(shared.t_load);
            let first = shared.vu_curve.borrow().first_above(j as f64, t);
            match first {
                None => break,
                Some(at) if at > t => {
                    shared.set_vu_active(&mut active, false);
                    active_until = None;
                    let changed = shared.vu_changed.notified();
                    if shared.stopping.get() {
                        break;
                    }
                    tokio::select! {
                        _ = shared.sleep_until(shared.t_load + at) => {}
                        _ = changed => {}
                    }
                    continue;
                }
                Some(_) => {
                    shared.set_vu_active(&mut active, true);
                    let until = shared.vu_curve.borrow().above_until(j as f64, t);
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
        let intended = match &timer {
            Some(timer) => {
                if clock < now {
                    clock = now;
                }
                let Some(due) = next_due(shared, timer, &mut clock).await else {
                    break;
                };
                if shared.due_in_pause(due) {
                    continue;
                }
                if !shared.may_start(due) {
                    break;
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
        let think = shared.think_time.get();
        if !think.is_zero() {
            shared.sleep_until(Instant::now() + think).await;
        }
    }
    shared.set_vu_active(&mut active, false);
    client.finish().await;
}

pub(super) async fn open_vu(shared: &Shared, mailbox: Rc<Mailbox>, mut client: Client) {
    let mut active = false;
    shared.set_vu_active(&mut active, true);
    client.open(shared).await;
    let mut entry = crate::plan::replay::Entry::default();
    loop {
        match mailbox.job.take() {
            Some(due) if shared.replay.is_some() => {
                std::mem::swap(&mut entry, &mut *mailbox.entry.borrow_mut());
                client.replay(shared, due, &entry).await;
                shared.idle.borrow_mut().push(mailbox.clone());
            }
            Some(due) => {
                client.iteration(shared, due).await;
                shared.idle.borrow_mut().push(mailbox.clone());
            }
            None if mailbox.closing.get() => break,
            None => mailbox.wake.notified().await,
        }
    }
    shared.set_vu_active(&mut active, false);
    client.finish().await;
}

/// Hands each due iteration of this thread's schedule to a free VU, starting VUs up to the
/// thread's share of `max_vus` and counting the rest as dropped.
pub(super) async fn dispatch(shared: Rc<Shared>) {
    let timer = shared.schedule_timer();
    let mut clock = shared.t_load;
    let mut mailboxes: Vec<Rc<Mailbox>> = Vec::new();
    // Held connections (`--ws-connections`): every VU starts now and opens its connection,
    // idle until the schedule gives it a message.
    if shared.plan.websocket.connections.is_some() {
        while (mailboxes.len() as u64) < shared.max_vus.get() {
            let m = spawn_open_vu(&shared, mailboxes.len() as u64, &mut mailboxes);
            shared.idle.borrow_mut().push(m);
        }
    }
    while let Some(due) = next_due(&shared, &timer, &mut clock).await {
        // Paused when this fell due: skip it, and everything due during the pause.
        if shared.wait_if_paused().await || shared.due_in_pause(due) {
            continue;
        }
        if shared.stopping.get() {
            break;
        }
        let Some(mailbox) = free_vu(&shared, &mut mailboxes) else {
            shared.dropped(due);
            continue;
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

/// Hands each record of this thread's share of a replay to a free VU at its recorded time
/// (speed applied), as [`dispatch`] does with a schedule's arrivals.
pub(super) async fn dispatch_replay(shared: Rc<Shared>) {
    let Some(reader) = shared.replay.as_ref() else {
        return;
    };
    let timer = shared.schedule_timer();
    let mut mailboxes: Vec<Rc<Mailbox>> = Vec::new();
    loop {
        let Some((off, slot)) = reader.borrow_mut().next() else {
            break;
        };
        let due = shared.t_load + secs(off.min(FOREVER));
        let mut go = !shared.past_end(due);
        while go && !timer.sleep_until(due).await {
            go = !shared.stopping.get();
        }
        if !go || shared.stopping.get() {
            reader.borrow_mut().release(slot);
            break;
        }
        // Paused when this fell due: skip it, and everything due during the pause.
        if shared.wait_if_paused().await || shared.due_in_pause(due) {
            reader.borrow_mut().release(slot);
            continue;
        }
        let Some(mailbox) = free_vu(&shared, &mut mailboxes) else {
            shared.dropped(due);
            reader.borrow_mut().release(slot);
            continue;
        };
        if !shared.may_start(due) {
            shared.idle.borrow_mut().push(mailbox);
            reader.borrow_mut().release(slot);
            break;
        }
        reader
            .borrow_mut()
            .swap_out(slot, &mut mailbox.entry.borrow_mut());
        mailbox.give(due);
    }
    for m in &mailboxes {
        m.close();
    }
}

/// An idle VU, or a new one while the thread has started fewer than its share of
/// `max_vus` (`mailboxes` holds one per VU started); `None`: the iteration is dropped.
fn free_vu(shared: &Rc<Shared>, mailboxes: &mut Vec<Rc<Mailbox>>) -> Option<Rc<Mailbox>> {
    let idle = shared.idle.borrow_mut().pop();
    idle.or_else(|| {
        let spawned = mailboxes.len() as u64;
        (spawned < shared.max_vus.get()).then(|| spawn_open_vu(shared, spawned, mailboxes))
    })
}

/// Starts the thread's open-model VU number `local`, waiting on the mailbox returned.
fn spawn_open_vu(shared: &Rc<Shared>, local: u64, mailboxes: &mut Vec<Rc<Mailbox>>) -> Rc<Mailbox> {
    let m = Mailbox::new();
    mailboxes.push(m.clone());
    let client = Client::new(shared, local);
    shared.task_started();
    let (s, mb) = (shared.clone(), m.clone());
    tokio::task::spawn_local(async move {
        open_vu(&s, mb, client).await;
        s.task_finished();
    });
    m
}

/// Starts the closed VUs of this thread's share whose global index is below `total` and
/// that have not been started yet.
pub(super) fn start_closed_vus(shared: &Rc<Shared>, total: u64) {
    let from = shared.vus_started.get();
    if total <= from {
        return;
    }
    shared.vus_started.set(total);
    let first_local = shared.share.count_below(from);
    let mine: Vec<u64> = shared
        .share
        .items_below(total)
        .skip(first_local as usize)
        .collect();
    for (k, j) in mine.into_iter().enumerate() {
        let s = shared.clone();
        let client = Client::new(&s, first_local + k as u64);
        s.task_started();
        let h = tokio::task::spawn_local(async move {
            closed_vu(&s, j, client).await;
            s.task_finished();
        });
        shared.tasks.borrow_mut().push(h);
    }
}
