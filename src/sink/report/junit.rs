//! JUnit XML, so CI systems (GitHub, GitLab, Jenkins) list thresholds as test cases: one
//! suite for the run itself, one with a test case per threshold.

use quick_xml::escape::escape;

use crate::results::Results;

struct Case {
    name: String,
    failure: Option<String>,
}

fn suite(out: &mut String, name: &str, r: &Results, cases: &[Case]) {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    out.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{:.3}\" timestamp=\"{}\">\n",
        escape(name),
        cases.len(),
        r.summary.duration_secs,
        escape(r.metadata.started_at.trim_end_matches('Z'))
    ));
    for case in cases {
        let head = format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0\"",
            escape(name),
            escape(&case.name)
        );
        match &case.failure {
            None => out.push_str(&format!("{head}/>\n")),
            Some(msg) => out.push_str(&format!(
                "{head}>\n      <failure message=\"{m}\" type=\"{kind}\">{m}</failure>\n    </testcase>\n",
                m = escape(msg),
                kind = name.trim_start_matches("kaioken.")
            )),
        }
    }
    out.push_str("  </testsuite>\n");
}

pub fn render(r: &Results) -> String {
    let s = &r.summary;
    let paused = if s.paused_secs > 0.0 {
        format!(" (paused {:.2}s, not in the rates)", s.paused_secs)
    } else {
        String::new()
    };
    let health = r
        .health
        .as_ref()
        .map(|h| format!("; {}", h.line()))
        .unwrap_or_default();
    let replay = r
        .load
        .replay
        .as_ref()
        .map(|rp| format!("; replay: {}", rp.line()))
        .unwrap_or_default();
    let paused = format!("{paused}{health}{replay}");
    let run_case = Case {
        name: format!(
            "{} {}: {}{paused}",
            r.metadata.target.method, r.metadata.target.url, r.metadata.load.description
        ),
        failure: (s.successful == 0).then(|| {
            format!(
                "no request succeeded ({} completed, {} failed)",
                s.total_requests, s.failed
            )
        }),
    };
    let thresholds: Vec<Case> = r
        .thresholds
        .iter()
        .map(|t| {
            let seen = t.observed_text();
            Case {
                name: format!("{} {}", t.name, t.condition),
                failure: (!t.passed).then(|| format!("observed {seen}")),
            }
        })
        .collect();
    let checks: Vec<Case> = r
        .checks
        .iter()
        .map(|c| Case {
            name: if c.name == c.condition {
                c.name.clone()
            } else {
                format!("{} [{}]", c.name, c.condition)
            },
            failure: (c.fails > 0).then(|| {
                format!(
                    "{} of {} responses failed (pass rate {:.2}%)",
                    c.fails,
                    c.passes + c.fails,
                    c.pass_rate.unwrap_or(0.0) * 100.0
                )
            }),
        })
        .collect();
    let total = 1 + thresholds.len() + checks.len();
    let failures = std::iter::once(&run_case)
        .chain(&thresholds)
        .chain(&checks)
        .filter(|c| c.failure.is_some())
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"kaioken\" tests=\"{total}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">\n",
        s.duration_secs
    ));
    suite(&mut out, "kaioken.run", r, &[run_case]);
    if !checks.is_empty() {
        suite(&mut out, "kaioken.checks", r, &checks);
    }
    if !thresholds.is_empty() {
        suite(&mut out, "kaioken.thresholds", r, &thresholds);
    }
    out.push_str("</testsuites>\n");
    out
}
