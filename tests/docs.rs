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
        page.starts_with(".ie") || page.contains(".TH kaioken"),
        "{}",
        &page[..200.min(page.len())]
    );
    assert!(page.contains("run") && page.contains("simulate"), "{page}");
}
