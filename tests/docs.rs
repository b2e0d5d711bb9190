//! Shell completions and the man page come from the clap definitions; bash really completes.

mod support;
use std::process::Command;
use support::*;

#[test]
fn bash_completion_completes_subcommands_and_flags() {
    let o = kaioken(&["completions", "bash"]);
    assert_eq!(o.status.code(), Some(0));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("kaioken.bash");
    std::fs::write(&script, &o.stdout).unwrap();
    let complete = |line: &str, cword: usize| {
        let words: Vec<&str> = line.split(' ').collect();
        let prog = format!(
            "source {}; COMP_WORDS=({}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT={}; _kaioken kaioken \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display(),
            words
                .iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" "),
            line.len()
        );
        let o = Command::new("bash").args(["-c", &prog]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let subs = complete("kaioken si", 1);
    assert!(subs.lines().any(|l| l == "simulate"), "{subs}");
    let flags = complete("kaioken run --arr", 2);
    assert!(flags.lines().any(|l| l == "--arrival-rate"), "{flags}");
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let o = kaioken(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("arrival-rate"),
            "{shell}"
        );
    }
}

#[test]
fn man_page_is_roff_with_the_commands() {
    let o = kaioken(&["man"]);
    assert_eq!(o.status.code(), Some(0));
    let page = stdout(&o);
    assert!(
        page.contains(".TH kaioken "),
        "{}",
        &page[..200.min(page.len())]
    );
    assert!(page.contains("run") && page.contains("simulate"), "{page}");
}

/// The top-level page names `kaioken-run(1)` and the others: each must exist and carry every
/// flag of its subcommand, read back from `--help` so that a flag added later is checked too.
#[test]
fn man_writes_a_page_per_subcommand_with_every_flag() {
    let dir = tempfile::tempdir().unwrap();
    let o = kaioken(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for sub in [
        "run", "serve", "demo", "simulate", "report", "init", "import", "compare",
    ] {
        let page = std::fs::read_to_string(dir.path().join(format!("kaioken-{sub}.1")))
            .unwrap_or_else(|e| panic!("kaioken-{sub}.1: {e}"));
        assert!(page.contains(&format!(".TH kaioken-{sub} ")), "{sub}");
        let help = stdout(&kaioken(&[sub, "--help"]));
        let flags: Vec<&str> = help
            .split_whitespace()
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .map(|w| w.trim_end_matches([',', ')', '.', ']', '\'']))
            .filter(|w| {
                w.chars()
                    .skip(2)
                    .all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit())
            })
            .collect();
        assert!(flags.len() >= 2, "{sub}: {help}");
        for flag in flags {
            // roff escapes a dash as \-.
            let escaped = flag.replace('-', "\\-");
            assert!(page.contains(&escaped), "kaioken-{sub}.1 lacks {flag}");
        }
        // The same page on stdout.
        let one = kaioken(&["man", sub]);
        assert_eq!(one.status.code(), Some(0));
        assert_eq!(stdout(&one), page, "{sub}");
    }
    let bad = kaioken(&["man", "rnu"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("no such subcommand; one of run,"),
        "{}",
        stderr(&bad)
    );
}

/// `run --help` is grouped under headings; `-h` is the short form with the common flags.
#[test]
fn run_help_is_grouped_and_h_is_short() {
    let long = stdout(&kaioken(&["run", "--help"]));
    let short = stdout(&kaioken(&["run", "-h"]));
    for heading in [
        "Target:",
        "Load:",
        "Request:",
        "Protocol:",
        "Network:",
        "Output:",
        "Thresholds:",
    ] {
        assert!(long.lines().any(|l| l == heading), "--help lacks {heading}");
        assert!(short.lines().any(|l| l == heading), "-h lacks {heading}");
    }
    // Headings are in the order a user builds a command line.
    let at = |h: &str| long.find(&format!("\n{h}\n")).unwrap();
    assert!(at("Target:") < at("Load:") && at("Load:") < at("Request:"));
    assert!(
        short.lines().count() * 2 < long.lines().count(),
        "-h is not short:\n{short}"
    );
    for common in [
        "--concurrency",
        "--duration",
        "--rate",
        "--header",
        "--output",
        "--http2",
    ] {
        assert!(short.contains(common), "-h lacks {common}");
    }
    assert!(!short.contains("--ws-binary") && long.contains("--ws-binary"));
    // Every output format is named where formats are listed.
    for ext in [".json", ".csv", ".md", ".html", ".xml"] {
        assert!(long.contains(ext), "--help lacks {ext}");
    }
}
