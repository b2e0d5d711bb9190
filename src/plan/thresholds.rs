//! `[thresholds]`: pass/fail criteria on the run's figures, parsed once into [`Threshold`]s
//! and judged against [`Observed`] values: the final result, or a live snapshot for
//! `--fail-fast`.

use std::fmt;

use super::{PlanError, problem};

/// What a threshold measures. Latencies are compared in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A latency quantile (0.5 … 0.999), in ms.
    Quantile(Quantile),
    MeanLatency,
    MaxLatency,
    ErrorRate,
    Rps,
    CheckPassRate,
    DroppedIterations,
    /// gRPC calls answered `OK` over all calls.
    GrpcOkRate,
    /// Messages received per second (gRPC replies' messages, WebSocket replies).
    MessagesPerSec,
    /// A quantile of the time from send to the first message of a reply, in ms.
    FirstMessage(Quantile),
    /// A quantile of the gap between consecutive messages of a reply, in ms.
    MessageGap(Quantile),
    /// A quantile of per-message latency on bidirectional streams, in ms.
    MessageLatency(Quantile),
    /// Sent over asked: the achieved rate of an open or rate-capped run over its target.
    AchievedRateRatio,
    /// The generator-health verdict: 0 when `ok`, 1 when generator-bound
    /// (`generator = "ok"`).
    Generator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantile {
    P50,
    P75,
    P90,
    P95,
    P99,
    P999,
}

impl Quantile {
    pub fn value(self) -> f64 {
        match self {
            Quantile::P50 => 0.50,
            Quantile::P75 => 0.75,
            Quantile::P90 => 0.90,
            Quantile::P95 => 0.95,
            Quantile::P99 => 0.99,
            Quantile::P999 => 0.999,
        }
    }
}

/// Every metric name a threshold accepts, with what it means; `_ms` names also come without
/// the suffix (the seed's tutorial spelling, `p95_latency = "< 500ms"`).
const METRICS: [(&str, Metric); 23] = [
    ("p50_latency_ms", Metric::Quantile(Quantile::P50)),
    ("p75_latency_ms", Metric::Quantile(Quantile::P75)),
    ("p90_latency_ms", Metric::Quantile(Quantile::P90)),
    ("p95_latency_ms", Metric::Quantile(Quantile::P95)),
    ("p99_latency_ms", Metric::Quantile(Quantile::P99)),
    ("p999_latency_ms", Metric::Quantile(Quantile::P999)),
    ("mean_latency_ms", Metric::MeanLatency),
    ("max_latency_ms", Metric::MaxLatency),
    ("error_rate", Metric::ErrorRate),
    ("rps", Metric::Rps),
    ("check_pass_rate", Metric::CheckPassRate),
    ("dropped_iterations", Metric::DroppedIterations),
    ("achieved_rate_ratio", Metric::AchievedRateRatio),
    ("generator", Metric::Generator),
    ("grpc_status_ok_rate", Metric::GrpcOkRate),
    ("messages_per_sec", Metric::MessagesPerSec),
    (
        "time_to_first_message_p50_ms",
        Metric::FirstMessage(Quantile::P50),
    ),
    (
        "time_to_first_message_p95_ms",
        Metric::FirstMessage(Quantile::P95),
    ),
    (
        "time_to_first_message_p99_ms",
        Metric::FirstMessage(Quantile::P99),
    ),
    ("message_gap_p95_ms", Metric::MessageGap(Quantile::P95)),
    ("message_gap_p99_ms", Metric::MessageGap(Quantile::P99)),
    (
        "message_latency_p95_ms",
        Metric::MessageLatency(Quantile::P95),
    ),
    (
        "message_latency_p99_ms",
        Metric::MessageLatency(Quantile::P99),
    ),
];

impl Metric {
    fn is_latency(self) -> bool {
        matches!(
            self,
            Metric::Quantile(_)
                | Metric::MeanLatency
                | Metric::MaxLatency
                | Metric::FirstMessage(_)
                | Metric::MessageGap(_)
                | Metric::MessageLatency(_)
        )
    }

    /// Whether the metric is about messages (gRPC, WebSocket) or gRPC statuses: a plan of
    /// another protocol refuses it rather than judging a figure that is never measured.
    pub fn needs_messages(self) -> bool {
        matches!(
            self,
            Metric::MessagesPerSec
                | Metric::FirstMessage(_)
                | Metric::MessageGap(_)
                | Metric::MessageLatency(_)
        )
    }

    /// A whole-run average is meaningless before the run ends, so `--fail-fast` leaves it to
    /// the final verdict.
    pub fn judged_live(self) -> bool {
        !matches!(
            self,
            Metric::Rps
                | Metric::MessagesPerSec
                | Metric::FirstMessage(_)
                | Metric::MessageGap(_)
                | Metric::AchievedRateRatio
                | Metric::Generator
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }

    fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Lt => observed < limit,
            Op::Le => observed <= limit,
            Op::Gt => observed > limit,
            Op::Ge => observed >= limit,
            // Figures are floating point: equal to within a millionth.
            Op::Eq => (observed - limit).abs() <= 1e-6 * limit.abs().max(1.0),
        }
    }
}

/// `{scenario="login"}` or `{tag="api"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The key as written, e.g. `p95_latency_ms` or `p95_latency_ms{scenario="login"}`.
    pub name: String,
    pub metric: Metric,
    pub filter: Option<Filter>,
    pub op: Op,
    /// In the metric's unit (ms for latencies).
    pub limit: f64,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.condition())
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl Threshold {
    /// The condition alone, e.g. `< 500`.
    pub fn condition(&self) -> String {
        if self.metric == Metric::Generator {
            return "== ok".to_string();
        }
        // `p95_latency = "< 1s"` is shown in the unit it was converted to.
        let base = self.name.split('{').next().unwrap_or_default();
        let unit = if self.metric.is_latency() && !base.ends_with("_ms") {
            " ms"
        } else {
            ""
        };
        format!("{} {}{unit}", self.op.symbol(), trim(self.limit))
    }

    pub fn passes(&self, observed: f64) -> bool {
        self.op.holds(observed, self.limit)
    }
}

/// Parses one `[thresholds]` entry: `key = "OP VALUE[unit]"`.
pub fn parse(key: &str, condition: &str) -> Result<Threshold, PlanError> {
    let field = format!("thresholds.{key}");
    let (metric_name, filter) = match key.split_once('{') {
        None => (key.trim(), None),
        Some((m, rest)) => {
            let inner = rest.strip_suffix('}').ok_or_else(|| {
                problem(
                    &field,
                    condition,
                    "a filter is written {scenario=\"NAME\"} or {TAG=\"VALUE\"} (a scenario tag)",
                )
            })?;
            (m.trim(), Some(parse_filter(&field, inner)?))
        }
    };
    let metric = lookup(metric_name).ok_or_else(|| {
        let known: Vec<&str> = METRICS.iter().map(|(n, _)| *n).collect();
        // Both spellings are candidates: `p99_latncy` is one edit from `p99_latency`.
        let spellings: Vec<&str> = known
            .iter()
            .flat_map(|n| std::iter::once(*n).chain(n.strip_suffix("_ms")))
            .collect();
        let fix = match crate::config::nearest(metric_name, &spellings) {
            Some(n) => format!("unknown metric {metric_name}; did you mean {n}?"),
            None => format!(
                "unknown metric {metric_name}; metrics: {}",
                known.join(", ")
            ),
        };
        problem(&field, condition, fix)
    })?;
    let text = condition.trim();
    if metric == Metric::Generator {
        // The one verdict, not a number: `generator = "ok"` (or `== ok`).
        return match text.trim_start_matches("==").trim() {
            "ok" => Ok(Threshold {
                name: key.trim().to_string(),
                metric,
                filter,
                op: Op::Eq,
                limit: 0.0,
            }),
            _ => Err(problem(
                &field,
                condition,
                "the generator threshold takes one value: generator = \"ok\" (fail the run when the generator limited it)",
            )),
        };
    }
    let (op, rest) = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .iter()
    .find_map(|(s, op)| text.strip_prefix(s).map(|r| (*op, r.trim())))
    .ok_or_else(|| {
        problem(
            &field,
            condition,
            "start with an operator: <, <=, >, >= or ==, e.g. \"< 500\"",
        )
    })?;
    let base = metric_name.split('{').next().unwrap_or_default();
    if metric.is_latency() && !base.ends_with("_ms") && rest.parse::<f64>().is_ok() {
        // Without `_ms` in the name the unit is written in the value, as README says; a bare
        // number would be a guess between ms and s.
        return Err(problem(
            &field,
            condition,
            format!(
                "give the unit, e.g. \"{} {rest}ms\", or name the metric {base}_ms",
                op.symbol()
            ),
        ));
    }
    let limit = parse_value(metric, rest).ok_or_else(|| {
        let example = if metric.is_latency() {
            "a number of ms or a duration, e.g. \"< 500\" or \"< 1.5s\""
        } else {
            "a number, e.g. \"< 0.01\""
        };
        problem(&field, condition, format!("the value must be {example}"))
    })?;
    Ok(Threshold {
        name: key.trim().to_string(),
        metric,
        filter,
        op,
        limit,
    })
}

fn lookup(name: &str) -> Option<Metric> {
    METRICS.iter().find_map(|(n, m)| {
        let short = n.strip_suffix("_ms");
        (*n == name || short == Some(name)).then_some(*m)
    })
}

fn parse_filter(field: &str, inner: &str) -> Result<Filter, PlanError> {
    let bad = || {
        problem(
            field,
            inner,
            "a filter is written {scenario=\"NAME\"} or {TAG=\"VALUE\"} (a scenario tag)",
        )
    };
    let (k, v) = inner.split_once('=').ok_or_else(bad)?;
    let key = k.trim();
    let value = v.trim().trim_matches(|c| c == '"' || c == '\'');
    let ident = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ident || value.is_empty() {
        return Err(bad());
    }
    Ok(Filter {
        key: key.to_string(),
        value: value.to_string(),
    })
}

/// A number; for latencies also a duration with a unit (`500ms`, `1.5s`, `800us`), in ms.
fn parse_value(metric: Metric, text: &str) -> Option<f64> {
    if let Ok(v) = text.parse::<f64>() {
        return v.is_finite().then_some(v);
    }
    if !metric.is_latency() {
        return None;
    }
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = text.split_at(split);
    let v: f64 = num.parse().ok()?;
    let ms_per = match unit.trim() {
        "us" | "µs" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        _ => return None,
    };
    Some(v * ms_per)
}

/// The figures thresholds are judged on, from a final result or a live snapshot.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// (quantile, latency in µs) for each quantile a threshold may name.
    pub quantiles_us: [(f64, u64); 6],
    pub mean_us: f64,
    pub max_us: u64,
    pub error_rate: f64,
    pub rps: f64,
    /// `None` when no check ran.
    pub check_pass_rate: Option<f64>,
    pub dropped_iterations: u64,
    /// `None` without gRPC calls.
    pub grpc_ok_rate: Option<f64>,
    /// `None` without messages.
    pub messages_per_sec: Option<f64>,
    /// (quantile, µs) of time to first message; `None` without messages.
    pub first_message_us: Option<[(f64, u64); 3]>,
    /// (quantile, µs) of gaps between messages; `None` without them.
    pub message_gap_us: Option<[(f64, u64); 2]>,
    /// (quantile, µs) of per-message latency; `None` without it.
    pub message_latency_us: Option<[(f64, u64); 2]>,
    /// Achieved over target rate; `None` without a target rate.
    pub achieved_rate_ratio: Option<f64>,
    /// 0 (ok) or 1 (generator-bound); `None` before the run has ended.
    pub generator: Option<f64>,
}

/// The figure for quantile `q` in a (quantile, µs) list, in ms.
fn ms_at(list: &[(f64, u64)], q: Quantile) -> Option<f64> {
    list.iter()
        .find(|(p, _)| *p == q.value())
        .map(|(_, v)| *v as f64 / 1000.0)
}

impl Observed {
    /// The observed value of `metric`, in the metric's unit; `None` when nothing measured it.
    pub fn value(&self, metric: Metric) -> Option<f64> {
        Some(match metric {
            Metric::Quantile(q) => {
                self.quantiles_us
                    .iter()
                    .find(|(p, _)| *p == q.value())
                    .map(|(_, v)| *v)? as f64
                    / 1000.0
            }
            Metric::MeanLatency => self.mean_us / 1000.0,
            Metric::MaxLatency => self.max_us as f64 / 1000.0,
            Metric::ErrorRate => self.error_rate,
            Metric::Rps => self.rps,
            Metric::CheckPassRate => self.check_pass_rate?,
            Metric::DroppedIterations => self.dropped_iterations as f64,
            Metric::GrpcOkRate => self.grpc_ok_rate?,
            Metric::MessagesPerSec => self.messages_per_sec?,
            Metric::MessageLatency(q) => ms_at(self.message_latency_us.as_ref()?, q)?,
            Metric::MessageGap(q) => ms_at(self.message_gap_us.as_ref()?, q)?,
            Metric::FirstMessage(q) => ms_at(self.first_message_us.as_ref()?, q)?,
            Metric::AchievedRateRatio => self.achieved_rate_ratio?,
            Metric::Generator => self.generator?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_spellings() {
        let t = parse("p95_latency_ms", "< 500").unwrap();
        assert_eq!(
            (t.metric, t.op, t.limit),
            (Metric::Quantile(Quantile::P95), Op::Lt, 500.0)
        );
        let t = parse("p99_latency", "< 1s").unwrap();
        assert_eq!(
            (t.metric, t.limit),
            (Metric::Quantile(Quantile::P99), 1000.0)
        );
        let t = parse("p95_latency", "<= 800us").unwrap();
        assert!((t.limit - 0.8).abs() < 1e-12);
        let t = parse("error_rate", "< 0.01").unwrap();
        assert_eq!((t.metric, t.limit), (Metric::ErrorRate, 0.01));
        let t = parse("rps", ">= 100").unwrap();
        assert_eq!(t.op, Op::Ge);
        let t = parse("check_pass_rate", "== 1").unwrap();
        assert_eq!(t.op, Op::Eq);
        let t = parse("p95_latency_ms{scenario=\"login\"}", "< 200").unwrap();
        assert_eq!(
            t.filter,
            Some(Filter {
                key: "scenario".into(),
                value: "login".into()
            })
        );
        assert_eq!(t.to_string(), "p95_latency_ms{scenario=\"login\"} < 200");
        // Without _ms in the name, the unit the value was converted to is shown (fail-fast
        // once printed `p95_latency < 1` for "< 1ms").
        let t = parse("p95_latency", "< 1ms").unwrap();
        assert_eq!(t.to_string(), "p95_latency < 1 ms");
    }

    #[test]
    fn operators_hold_as_written() {
        for (op, obs, lim, want) in [
            (Op::Lt, 1.0, 2.0, true),
            (Op::Lt, 2.0, 2.0, false),
            (Op::Le, 2.0, 2.0, true),
            (Op::Gt, 2.0, 2.0, false),
            (Op::Ge, 2.0, 2.0, true),
            (Op::Gt, 3.0, 2.0, true),
            (Op::Eq, 0.1 + 0.2, 0.3, true),
            (Op::Eq, 0.31, 0.3, false),
        ] {
            assert_eq!(op.holds(obs, lim), want, "{obs} {op:?} {lim}");
        }
    }

    #[test]
    fn bad_thresholds_name_the_fix() {
        let e = parse("p95_latncy_ms", "< 5").unwrap_err();
        assert!(e.fix.contains("did you mean p95_latency_ms"), "{e}");
        let e = parse("error_rate", "0.01").unwrap_err();
        assert!(e.fix.contains("operator"), "{e}");
        let e = parse("error_rate", "< 1%").unwrap_err();
        assert!(e.fix.contains("a number"), "{e}");
        let e = parse("p95_latency_ms", "< fast").unwrap_err();
        assert!(e.fix.contains("duration"), "{e}");
        let e = parse("p95_latency_ms{user x}", "< 5").unwrap_err();
        assert!(e.fix.contains("scenario="), "{e}");
        assert_eq!(e.field, "thresholds.p95_latency_ms{user x}");
        let t = parse("p95_latency_ms{endpoint=\"users\"}", "< 5").unwrap();
        assert_eq!(t.filter.unwrap().key, "endpoint");
    }
}
