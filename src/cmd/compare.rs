//! `kaioken compare BASELINE CURRENT`: exit 0, 3 (regression) or 5 (different load models).

use std::io::Write;

use anyhow::Context;

use super::Exit;
use crate::cli::CompareArgs;
use crate::compare::{Comparison, Limits, render};
use crate::results::load::load;

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
    let baseline = load(&args.baseline)?;
    let current = load(&args.current)?;
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
