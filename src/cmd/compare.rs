//! `kaioken compare BASELINE CURRENT`: exit 0, 3 (regression) or 5 (different load models).

use std::io::Write;

use anyhow::Context;

use super::Exit;
use crate::cli::CompareArgs;
use crate::compare::{Comparison, Limits, render};
use crate::results::capacity::{CapacityResult, rate_text};
use crate::results::load::{Document, load_document};

pub fn compare(args: &CompareArgs) -> anyhow::Result<Exit> {
    for (flag, v) in [
        ("--threshold-p99", args.threshold_p99),
        ("--threshold-p999", args.threshold_p999),
        ("--threshold-error-rate", args.threshold_error_rate),
        ("--threshold-rps", args.threshold_rps),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            anyhow::bail!("{flag} = {v}: give a percentage ≥ 0, e.g. {flag} 10");
        }
    }
    let (baseline, current) = match (
        load_document(&args.baseline)?,
        load_document(&args.current)?,
    ) {
        (Document::Run(b), Document::Run(c)) => (*b, *c),
        (Document::Capacity(b), Document::Capacity(c)) => return capacity(args, &b, &c),
        (b, _) => {
            let (cap, run) = match b {
                Document::Capacity(_) => (&args.baseline, &args.current),
                Document::Run(_) => (&args.current, &args.baseline),
            };
            anyhow::bail!(
                "{} is a capacity result and {} a run result: compare two of a kind",
                cap.display(),
                run.display()
            );
        }
    };
    let limits = Limits {
        p99: args.threshold_p99,
        p999: args.threshold_p999,
        error_rate: args.threshold_error_rate,
        rps: args.threshold_rps,
    };
    let b_name = args.baseline.display().to_string();
    let c_name = args.current.display().to_string();
    let cmp = Comparison::build((&b_name, &baseline), (&c_name, &current), limits)?;

    if let Some(why) = &cmp.model_mismatch {
        if !args.force {
            eprintln!(
                "kaioken: {why}; their latencies measure different things. Pass --force to compare anyway"
            );
            return Ok(Exit::ModelMismatch);
        }
        if !args.json {
            eprintln!("kaioken: {why} (compared anyway: --force)");
        }
    }
    let text = if args.json {
        render::json(&cmp) + "\n"
    } else if args.md {
        render::markdown(&cmp)
    } else {
        render::text(&cmp)
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("writing to stdout")?,
    }
    Ok(if cmp.regressions > 0 {
        Exit::Regression
    } else {
        Exit::Success
    })
}

/// Two capacity searches: the sustained rate is the figure; a drop beyond `--threshold-rps`
/// percent is a regression (exit 3). A search that found nothing sustained 0.
fn capacity(args: &CompareArgs, b: &CapacityResult, c: &CapacityResult) -> anyhow::Result<Exit> {
    let Some(base) = b.answer.sustained_rps else {
        anyhow::bail!(
            "{}: the baseline search found no sustained rate ({}); nothing to compare against",
            args.baseline.display(),
            b.answer.outcome
        );
    };
    let cur = c.answer.sustained_rps.unwrap_or(0.0);
    let change = (cur - base) / base * 100.0;
    let regression = change < -args.threshold_rps;
    let bound = |d: &CapacityResult| {
        if d.answer.outcome == "at_least_max" {
            " (at least: --max reached)"
        } else {
            ""
        }
    };
    let text = if args.json {
        serde_json::json!({
            "schema": "kaioken.capacity_compare/v1",
            "baseline": {"file": args.baseline.display().to_string(), "sustained_rps": base, "outcome": b.answer.outcome},
            "current": {"file": args.current.display().to_string(), "sustained_rps": c.answer.sustained_rps, "outcome": c.answer.outcome},
            "change_pct": change,
            "limit_pct": -args.threshold_rps,
            "regression": regression,
        })
        .to_string()
            + "\n"
    } else {
        let verdict = if regression { "REGRESSION" } else { "ok" };
        format!(
            "capacity: {} req/s{} → {} req/s{} ({change:+.1}%, limit −{}%): {verdict}\n  baseline: {}\n  current:  {}\n",
            rate_text(base),
            bound(b),
            rate_text(cur),
            bound(c),
            args.threshold_rps,
            b.answer.line,
            c.answer.line
        )
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("writing to stdout")?,
    }
    Ok(if regression {
        Exit::Regression
    } else {
        Exit::Success
    })
}
