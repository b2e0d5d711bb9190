//! The generator measuring itself, so a report can say whether its numbers were limited by
//! the server or by the load generator: each worker thread's CPU (its CPU clock over its
//! life), the machine's CPU and the kernel's TCP counters over the run (`/proc`), schedule
//! lag and dropped iterations. The verdict is `ok` or `generator_bound` with the reason.

use serde::{Deserialize, Serialize};

/// The `health` section of a result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `ok` or `generator_bound`.
    pub verdict: String,
    /// Why, in one line, when generator-bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Busiest worker thread: its CPU time over its life (0 to 1).
    pub worker_cpu_max: f64,
    /// Mean over worker threads.
    pub worker_cpu_mean: f64,
    /// Busiest worker thread: on a CPU or waiting for one (ready to run), over its life.
    /// What the verdict judges: a thread that always wanted to run could not send more,
    /// whether it got the CPU or not.
    #[serde(default)]
    pub worker_busy_max: f64,
    /// The whole machine's busy share over the run (`/proc/stat`); the server under test
    /// counts too when it shares the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_cpu: Option<f64>,
    pub schedule_lag_p99_us: u64,
    pub schedule_lag_max_us: u64,
    pub dropped_iterations: u64,
    /// The process's open-file limit (each connection takes one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_files_limit: Option<u64>,
    pub connections_opened: u64,
    /// TCP segments the kernel retransmitted during the run, machine-wide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_retransmits: Option<u64>,
    /// Connections the kernel dropped from full listen queues during the run, machine-wide
    /// (a local server's accept backlog overflowing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_drops: Option<u64>,
    /// Seconds VUs spent waiting for a connection (opening their own, or while another VU
    /// opened the HTTP/2 connection they share), summed over VUs.
    #[serde(default)]
    pub connection_wait_secs: f64,
    /// Local ports the kernel hands out for outgoing connections
    /// (`net.ipv4.ip_local_port_range`): with `connections_opened`, how close the run came
    /// to running out of them (each closed connection holds its port for a minute in
    /// TIME_WAIT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_ports: Option<u64>,
}

impl Health {
    pub fn is_ok(&self) -> bool {
        self.verdict == "ok"
    }

    /// One line for the summary and the TUI.
    pub fn line(&self) -> String {
        match &self.reason {
            Some(r) => r.clone(),
            None => {
                let machine = self
                    .machine_cpu
                    .map(|m| format!(", machine {:.0}%", m * 100.0))
                    .unwrap_or_default();
                format!(
                    "generator ok: busiest worker thread {:.0}% CPU{machine}",
                    self.worker_cpu_max * 100.0
                )
            }
        }
    }
}

/// Machine-wide counters at one instant, from `/proc` (absent figures stay `None`: another
/// OS, a container without them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostSample {
    /// (busy, total) jiffies of all CPUs.
    cpu: Option<(u64, u64)>,
    retransmits: Option<u64>,
    listen_drops: Option<u64>,
}

impl HostSample {
    pub fn now() -> HostSample {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let netstat = read("/proc/net/netstat");
        HostSample {
            cpu: cpu_jiffies(&read("/proc/stat")),
            retransmits: proc_field(&read("/proc/net/snmp"), "Tcp:", "RetransSegs"),
            listen_drops: proc_field(&netstat, "TcpExt:", "ListenDrops"),
        }
    }
}

/// (busy, total) from the first `cpu ` line of `/proc/stat`; idle and iowait are not busy.
fn cpu_jiffies(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest is inside user already).
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// A field of `/proc/net/snmp` or `/proc/net/netstat`: a header line `Prefix: names…` and a
/// value line `Prefix: values…` after it.
fn proc_field(text: &str, prefix: &str, name: &str) -> Option<u64> {
    let mut lines = text.lines().filter(|l| l.starts_with(prefix));
    while let (Some(head), Some(values)) = (lines.next(), lines.next()) {
        let i = head.split_whitespace().position(|h| h == name);
        if let Some(i) = i {
            return values.split_whitespace().nth(i)?.parse().ok();
        }
    }
    None
}

/// What the run itself measured, for [`judge`].
pub struct Measured<'a> {
    /// Per worker thread: (CPU time, time waiting for a CPU, life).
    pub threads: &'a [(
        std::time::Duration,
        std::time::Duration,
        std::time::Duration,
    )],
    /// Whether sends follow a schedule (open model, rate cap): lag is then the generator's
    /// lateness.
    pub scheduled: bool,
    pub lag_p99_us: u64,
    pub lag_max_us: u64,
    pub dropped: u64,
    pub connections: u64,
    /// Connections that failed for want of the generator's own resources (`local_resources`).
    pub local_errors: u64,
    /// Time VUs waited for connections, summed.
    pub connection_wait: std::time::Duration,
}

/// The busiest worker at or above this share of its life on the CPU could not have sent
/// more: what it measured is the generator's ceiling.
pub const BUSY_THREAD: f64 = 0.90;
/// A scheduled send this late (p99) is the generator's lateness, not the server's.
pub const LATE_US: u64 = 10_000;

pub fn judge(m: &Measured, start: &HostSample, end: &HostSample) -> Health {
    let share = |d: std::time::Duration, lived: std::time::Duration| {
        if lived.is_zero() {
            0.0
        } else {
            (d.as_secs_f64() / lived.as_secs_f64()).min(1.0)
        }
    };
    let shares: Vec<f64> = m.threads.iter().map(|(c, _, l)| share(*c, *l)).collect();
    let busy = m
        .threads
        .iter()
        .map(|(c, w, l)| share(*c + *w, *l))
        .fold(0.0, f64::max);
    let max = shares.iter().copied().fold(0.0, f64::max);
    let mean = if shares.is_empty() {
        0.0
    } else {
        shares.iter().sum::<f64>() / shares.len() as f64
    };
    let machine = match (start.cpu, end.cpu) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
            Some((b1.saturating_sub(b0)) as f64 / (t1 - t0) as f64)
        }
        _ => None,
    };
    let delta = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?));
    let late = m.scheduled && m.lag_p99_us >= LATE_US;
    let reason = reason(busy, max, late.then_some(m.lag_p99_us), m.local_errors);
    Health {
        verdict: if reason.is_some() {
            "generator_bound"
        } else {
            "ok"
        }
        .to_string(),
        reason,
        worker_cpu_max: max,
        worker_cpu_mean: mean,
        worker_busy_max: busy,
        machine_cpu: machine,
        schedule_lag_p99_us: m.lag_p99_us,
        schedule_lag_max_us: m.lag_max_us,
        dropped_iterations: m.dropped,
        open_files_limit: open_files_limit(),
        connections_opened: m.connections,
        tcp_retransmits: delta(start.retransmits, end.retransmits),
        listen_drops: delta(start.listen_drops, end.listen_drops),
        connection_wait_secs: m.connection_wait.as_secs_f64(),
        ephemeral_ports: ephemeral_ports(
            &std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default(),
        ),
    }
}

/// The size of `ip_local_port_range` ("32768\t60999").
fn ephemeral_ports(range: &str) -> Option<u64> {
    let mut it = range.split_whitespace().map(|x| x.parse::<u64>());
    match (it.next()?, it.next()?) {
        (Ok(lo), Ok(hi)) if hi >= lo => Some(hi - lo + 1),
        _ => None,
    }
}

/// Why the generator limited the run, in one line, or `None` when it did not: the busiest
/// thread busy (`busy`, of which `cpu` on a CPU) at or above [`BUSY_THREAD`], a schedule
/// lag p99 (`late`, given only when at or above [`LATE_US`]), connections that failed for
/// want of local resources. Shared by the result's verdict and the live view.
fn reason(busy: f64, cpu: f64, late: Option<u64>, local_errors: u64) -> Option<String> {
    let mut why = Vec::new();
    if busy >= BUSY_THREAD {
        why.push(if busy - cpu >= 0.05 {
            format!(
                "worker threads busy {:.0}% of the time ({:.0}% on a CPU, the rest waiting for one)",
                busy * 100.0,
                cpu * 100.0
            )
        } else {
            format!("worker threads at {:.0}% CPU", busy * 100.0)
        });
    }
    if let Some(lag) = late {
        why.push(format!(
            "schedule lag p99 {}",
            crate::results::units::fmt_us(lag)
        ));
    }
    if local_errors > 0 {
        why.push(format!(
            "{local_errors} connections failed for want of file descriptors or local ports (local_resources)"
        ));
    }
    if why.is_empty() {
        return None;
    }
    let advice = if local_errors > 0 {
        "raise the open-file limit (ulimit -n), spread connections over more local addresses (--local-address), or use fewer connections".to_string()
    } else if let Some(lag) = late {
        format!(
            "latencies above ~{} may be the generator's; add threads (-t) or machines, or lower the rate",
            crate::results::units::fmt_us(lag)
        )
    } else {
        "the rate reached is the generator's ceiling, not necessarily the server's; add threads (-t) or machines".to_string()
    };
    Some(format!("generator-bound: {}: {advice}", why.join(", ")))
}

/// The live view's verdict, from what a snapshot holds: the busiest worker thread's busy
/// share over the last second, the schedule lag p99 so far, and `local_resources` errors.
/// `(ok, line)`.
pub fn live(busy: Option<f64>, lag_p99_us: u64, local_errors: u64) -> (bool, String) {
    let late = (lag_p99_us >= LATE_US).then_some(lag_p99_us);
    match reason(busy.unwrap_or(0.0), busy.unwrap_or(0.0), late, local_errors) {
        Some(r) => (false, r),
        None => {
            let busy = busy.map_or("measuring".to_string(), |b| {
                format!("busiest worker thread {:.0}% busy", b * 100.0)
            });
            let lag = if lag_p99_us > 0 {
                format!(
                    ", schedule lag p99 {}",
                    crate::results::units::fmt_us(lag_p99_us)
                )
            } else {
                String::new()
            };
            (true, format!("generator ok: {busy}{lag}"))
        }
    }
}

/// The soft RLIMIT_NOFILE (the limit `cmd::run` raised it to, if it did).
fn open_files_limit() -> Option<u64> {
    rlimit::Resource::NOFILE.get().ok().map(|(soft, _)| soft)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn proc_figures_parse() {
        assert_eq!(
            cpu_jiffies("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n"),
            Some((150, 1000))
        );
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm RetransSegs InErrs\nTcp: 1 42 0\n";
        assert_eq!(proc_field(snmp, "Tcp:", "RetransSegs"), Some(42));
        assert_eq!(proc_field(snmp, "Tcp:", "Nope"), None);
        let netstat = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 3 7\nIpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(proc_field(netstat, "TcpExt:", "ListenDrops"), Some(7));
        assert_eq!(ephemeral_ports("32768\t60999\n"), Some(28232));
        assert_eq!(ephemeral_ports("9 1"), None);
        assert_eq!(ephemeral_ports(""), None);
    }

    fn measured(threads: &[(Duration, Duration, Duration)], scheduled: bool, lag: u64) -> Health {
        judge(
            &Measured {
                threads,
                scheduled,
                lag_p99_us: lag,
                lag_max_us: lag,
                dropped: 0,
                connections: 1,
                local_errors: 0,
                connection_wait: Duration::ZERO,
            },
            &HostSample::default(),
            &HostSample::default(),
        )
    }

    #[test]
    fn a_busy_thread_or_late_schedule_is_generator_bound() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        // 2 s of CPU in 10 s of life: 20%, comfortable.
        let z = Duration::ZERO;
        let ok = measured(&[(s(2), s(1), s(10)), (s(1), z, s(10))], true, 200);
        assert!(ok.is_ok(), "{ok:?}");
        assert!((ok.worker_cpu_max - 0.2).abs() < 1e-9 && (ok.worker_cpu_mean - 0.15).abs() < 1e-9);
        assert!(
            ok.line()
                .starts_with("generator ok: busiest worker thread 20% CPU")
        );
        // 9.5 s in 10 s: 95%.
        let busy = measured(&[(ms(9_500), z, s(10))], false, 0);
        assert_eq!(busy.verdict, "generator_bound");
        assert!(
            busy.line().contains("worker threads at 95% CPU"),
            "{}",
            busy.line()
        );
        // Starved on a shared machine: 6 s on a CPU and 3.5 s waiting for one is 95% busy.
        let starved = measured(&[(s(6), ms(3_500), s(10))], false, 0);
        assert!(
            starved
                .line()
                .contains("busy 95% of the time (60% on a CPU, the rest waiting for one)"),
            "{}",
            starved.line()
        );
        // Lag counts only when sends follow a schedule.
        assert!(!measured(&[(s(1), z, s(10))], true, 41_000).is_ok());
        assert!(measured(&[(s(1), z, s(10))], false, 41_000).is_ok());
        let late = measured(&[(s(1), z, s(10))], true, 41_000);
        assert!(
            late.line().contains(
                "schedule lag p99 41.00ms: latencies above ~41.00ms may be the generator's"
            ),
            "{}",
            late.line()
        );
    }
}
