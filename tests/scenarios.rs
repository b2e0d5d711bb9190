//! `[[scenarios]]`, chaining and request sources against the built-in target's `/app/`,
//! asserted on what the server counted: the weighted split, dependencies and their tokens,
//! the cookie jar, every extraction kind, redirects, multipart uploads, URL and body files,
//! regex URLs, filtered thresholds and bad input.

mod support;

use serde_json::Value;
use support::{Target, json, kaioken, stderr, stdout, write_file};

/// Runs `kaioken run -f CONFIG ARGS -o r.json` (config `cfg` with `{url}` replaced) and
/// returns (exit code, result JSON, stderr).
fn run(t: &Target, cfg: &str, extra: &[&str]) -> (i32, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(dir.path(), "k.toml", &cfg.replace("{url}", &t.url));
    let out = dir.path().join("r.json");
    let mut args = vec![
        "run",
        "-f",
        p.to_str().unwrap(),
        "--no-tui",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    let o = kaioken(&args);
    let code = o.status.code().unwrap_or(-1);
    let v = std::fs::read(&out)
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or(Value::Null);
    (code, v, stderr(&o))
}

/// Requests the built-in target counted for `path`: 0 when it lists no such path, but its
/// stats must list paths (so a "== 0" cannot pass on a stats format that lost them).
fn path_count(stats: &Value, path: &str) -> u64 {
    let paths = stats["paths"]
        .as_object()
        .unwrap_or_else(|| panic!("the target's stats have no paths: {stats}"));
    paths
        .get(path)
        .map_or(0, |n| n.as_u64().expect("a path's count is a number"))
}

const MIX: &str = r#"
[target]
url = "{url}"
[load]
concurrency = 20
max_requests = 10000
[[scenarios]]
name = "list_users"
url = "/app/users"
weight = 7
tags = { endpoint = "users", version = "v2" }
[[scenarios]]
name = "create_user"
url = "/app/users/new"
method = "POST"
body = '{"name": "test-${REQUEST_ID}"}'
weight = 2
tags = { endpoint = "users", operation = "write" }
[[scenarios]]
name = "health_check"
url = "/app/health"
weight = 1
"#;

#[test]
fn weights_split_traffic_exactly_over_http1_and_h2() {
    for extra in [&[][..], &["--http2"][..]] {
        let t = Target::start(&[]);
        let (code, v, err) = run(&t, MIX, extra);
        assert_eq!(code, 0, "{err}");
        let s = t.stats();
        let (a, b, c) = (
            path_count(&s, "/app/users"),
            path_count(&s, "/app/users/new"),
            path_count(&s, "/app/health"),
        );
        assert_eq!(a + b + c, 10_000, "{s}");
        // 7:2:1 exactly up to one partial cycle per thread: each thread walks the smooth
        // cycle of 10, and a partial cycle holds fewer than `weight` more or less of a
        // scenario than its share; with 2 threads of 5,000 requests each (whole cycles),
        // the split is exact. A random selector would miss by ~±45 (σ of 7,000 in 10,000).
        let threads = v["metadata"]["load"]["threads"].as_u64().unwrap();
        for (got, want, w) in [(a, 7000, 7), (b, 2000, 2), (c, 1000, 1)] {
            assert!(got.abs_diff(want) <= threads * w, "{extra:?}: {a}:{b}:{c}");
        }
        let sc = &v["scenarios"];
        assert_eq!(sc["list_users"]["total_requests"], a);
        assert_eq!(sc["create_user"]["method"], "POST");
        assert_eq!(sc["health_check"]["weight"], 1);
        assert!(sc["list_users"]["latency_us"]["p99"].as_u64().unwrap() > 0);
        assert_eq!(v["tags"]["endpoint=users"]["total_requests"], a + b);
        assert_eq!(v["tags"]["operation=write"]["total_requests"], b);
    }
}

#[test]
fn dry_run_lists_scenarios_with_weights() {
    let t = Target::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(dir.path(), "k.toml", &MIX.replace("{url}", &t.url));
    let o = kaioken(&["run", "-f", p.to_str().unwrap(), "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Scenarios:   3 defined"), "{out}");
    assert!(
        out.contains("  - list_users (GET /app/users) weight=7 (70%)"),
        "{out}"
    );
    assert!(
        out.contains("  - create_user (POST /app/users/new) weight=2 (20%)"),
        "{out}"
    );
    assert!(
        out.contains("  - health_check (GET /app/health) weight=1 (10%)"),
        "{out}"
    );
    assert_eq!(t.served(), 0, "a dry run sends nothing");
}

const LOGIN: &str = r#"
[target]
url = "{url}"
[load]
concurrency = 10
max_requests = 3000
[[scenarios]]
name = "login"
url = "/app/login"
method = "POST"
weight = 0
[scenarios.extract]
token = "json:$.access_token"
session_id = "header:X-Session-Id"
user_id = 'regex:"id":(\d+):1'
raw = "body"
nothing = "json:$.no_such_field"
[[scenarios]]
name = "profile"
url = "/app/me{query}"
weight = 8
[scenarios.headers]
Authorization = "Bearer ${token}"
[[scenarios]]
name = "echo"
url = "/app/echo"
method = "POST"
body = "${token} ${session_id} ${user_id} ${raw}"
weight = 2
[[scenarios.checks]]
name = "values arrived"
body_matches = '^tok-\d+ s-\d+ \d+ \{"access_token":"tok-\d+","user":\{"id":\d+\}\}$'
"#;

#[test]
fn a_login_dependency_feeds_every_later_request() {
    let t = Target::start(&[]);
    let cfg = LOGIN
        .replace("{query}", "")
        .replace("nothing = \"json:$.no_such_field\"\n", "");
    let (code, v, err) = run(&t, &cfg, &[]);
    assert_eq!(code, 0, "{err}");
    let s = t.stats();
    // One login per VU, before its first weighted request; every profile request carried
    // an issued token (the server checks).
    assert_eq!(s["logins"], 10, "{s}");
    assert_eq!(s["auth_refused"], 0, "{s}");
    assert_eq!(s["auth_ok"], path_count(&s, "/app/me"));
    assert_eq!(
        path_count(&s, "/app/me") + path_count(&s, "/app/echo"),
        3000
    );
    // json, header, regex and body extraction all reached the echoed body.
    assert_eq!(v["checks"][0]["pass_rate"], 1.0, "{}", v["checks"]);
    assert!(v["checks"][0]["passes"].as_u64().unwrap() >= 500);
    let failed = &v["scenarios"]["login"]["extraction_failed"];
    for name in ["token", "session_id", "user_id", "raw"] {
        assert_eq!(failed[name], 0, "{failed}");
    }
}

#[test]
fn an_expired_token_runs_the_dependency_again() {
    let t = Target::start(&[]);
    let cfg = LOGIN
        .replace("{query}", "?expire_after=20")
        .replace("nothing = \"json:$.no_such_field\"\n", "");
    let (code, v, err) = run(&t, &cfg, &["-c", "4"]);
    assert!(code == 0, "{err}");
    let s = t.stats();
    let logins = s["logins"].as_u64().unwrap();
    let refused = s["auth_refused"].as_u64().unwrap();
    // ~2400 profile requests at 20 uses per token: many logins, each after one 401.
    assert!(logins > 50, "{s}");
    assert!(refused + 4 >= logins && refused <= logins, "{s}");
    assert_eq!(v["scenarios"]["profile"]["status_codes"]["401"], refused);
}

#[test]
fn a_value_never_found_is_counted_and_its_requests_are_not_sent() {
    let t = Target::start(&[]);
    let cfg = LOGIN.replace("{query}", "").replace(
        "body = \"${token} ${session_id} ${user_id} ${raw}\"",
        "body = \"${nothing}\"",
    );
    let (code, v, err) = run(&t, &cfg, &["-n", "500"]);
    assert_eq!(code, 0, "{err}");
    let s = t.stats();
    assert_eq!(path_count(&s, "/app/echo"), 0, "{s}");
    let login = &v["scenarios"]["login"];
    assert_eq!(
        login["extraction_failed"]["nothing"], s["logins"],
        "{login}"
    );
    assert!(v["scenarios"]["echo"]["missing_values"].as_u64().unwrap() > 50);
}

#[test]
fn the_cookie_jar_carries_the_session() {
    let cfg = r#"
[target]
url = "{url}"
[load]
concurrency = 5
max_requests = 1000
[[scenarios]]
name = "login"
url = "/app/login"
method = "POST"
weight = 0
[[scenarios]]
name = "cart"
url = "/app/cart"
"#;
    let t = Target::start(&[]);
    let (code, _, err) = run(&t, cfg, &["--cookie-jar"]);
    assert_eq!(code, 0, "{err}");
    let s = t.stats();
    assert_eq!(s["logins"], 5, "{s}");
    assert_eq!(s["cookie_ok"], 1000, "{s}");
    assert_eq!(s["cookie_refused"], 0, "{s}");

    // Without the jar no cookie is sent; the config key turns it on too.
    let t = Target::start(&[]);
    let (_, v, _) = run(&t, cfg, &[]);
    assert_eq!(t.stats()["cookie_ok"], 0);
    assert_eq!(v["scenarios"]["cart"]["status_codes"]["401"], 1000);
    let t = Target::start(&[]);
    run(&t, &cfg.replace("[load]", "cookie_jar = true\n[load]"), &[]);
    assert_eq!(t.stats()["cookie_ok"], 1000);
}

#[test]
fn redirects_are_followed_by_default_and_recorded_when_asked() {
    let t = Target::start(&[]);
    let url = format!("{}app/redirect/3", t.url);
    let o = kaioken(&["run", &url, "-n", "200", "-c", "4", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["status_codes"]["200"], 200, "{}", v["status_codes"]);
    assert_eq!(v["summary"]["total_requests"], 200);
    assert_eq!(v["summary"]["redirects"], 600);
    let s = t.stats();
    assert_eq!(path_count(&s, "/app/redirect/0"), 200);
    assert_eq!(path_count(&s, "/app/redirect/3"), 200);

    let t = Target::start(&[]);
    let url = format!("{}app/redirect/3", t.url);
    let o = kaioken(&["run", &url, "-n", "200", "--no-follow-redirects", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["status_codes"]["302"], 200);
    assert_eq!(path_count(&t.stats(), "/app/redirect/2"), 0);

    // 303 after a POST becomes a GET without the body: /app/echo answers with the body it
    // got and names the method in x-echo-method, which checks on the final response read.
    let t = Target::start(&[]);
    let url = format!("{}app/see-other", t.url);
    let dir = tempfile::tempdir().unwrap();
    let cfg = support::write_file(
        dir.path(),
        "checks.toml",
        "[[checks]]\nname = \"get\"\ncondition = 'header x-echo-method contains \"GET\"'\n[[checks]]\nname = \"no body\"\ncondition = 'body matches \"^$\"'\n",
    );
    let o = kaioken(&[
        "run",
        &url,
        "-f",
        cfg.to_str().unwrap(),
        "-m",
        "POST",
        "-b",
        "payload",
        "-n",
        "50",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["status_codes"]["200"], 50);
    assert_eq!(path_count(&t.stats(), "/app/echo"), 50);
    for c in v["checks"].as_array().unwrap() {
        assert_eq!(c["passes"], 50, "{c}");
    }
    assert_eq!(v["checks"].as_array().unwrap().len(), 2);
    // Another origin is not followed.
    let url = format!("{}app/offsite", t.url);
    let o = kaioken(&["run", &url, "-n", "20", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["status_codes"]["302"], 20, "{v}");
    assert_eq!(v["summary"]["redirects"], 0);
}

#[test]
fn multipart_files_arrive_intact() {
    let t = Target::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload.bin");
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let url = format!("{}app/upload", t.url);
    let spec = format!("doc=@{};type=application/x-test", file.display());
    let o = kaioken(&[
        "run",
        &url,
        "-m",
        "POST",
        "-F",
        "title=hello world",
        "-F",
        &spec,
        "-n",
        "40",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["status_codes"]["200"], 40, "{}", v["status_codes"]);
    let uploads = &t.stats()["uploads"];
    let want_file = format!(
        "name=doc filename=payload.bin type=application/x-test size=70000 fnv={:016x}",
        kaioken::target_server::fnv1a(&bytes)
    );
    let want_text = format!(
        "name=title filename= type= size=11 fnv={:016x}",
        kaioken::target_server::fnv1a(b"hello world")
    );
    assert_eq!(uploads[&want_file], 40, "{uploads}");
    assert_eq!(uploads[&want_text], 40, "{uploads}");
    assert_eq!(uploads.as_object().unwrap().len(), 2, "{uploads}");
}

#[test]
fn url_and_body_files_go_round_robin_and_regex_urls_vary() {
    let t = Target::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let urls = write_file(
        dir.path(),
        "urls.txt",
        &format!("{0}app/a\n{0}app/b?x=1\r\n\n{0}app/c\n", t.url),
    );
    let o = kaioken(&[
        "run",
        "--urls-from-file",
        urls.to_str().unwrap(),
        "-n",
        "300",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = t.stats();
    for p in ["/app/a", "/app/b", "/app/c"] {
        let n = path_count(&s, p);
        assert!((98..=102).contains(&n), "{p}: {n} {s}");
    }

    let bodies = write_file(dir.path(), "bodies.txt", "one\ntwo\nthree\n");
    let cfg = write_file(
        dir.path(),
        "b.toml",
        r#"[[checks]]
name = "a line"
body_matches = '^(one|two|three)$'
[[checks]]
name = "first"
body_contains = "one"
"#,
    );
    let url = format!("{}app/echo", t.url);
    let o = kaioken(&[
        "run",
        &url,
        "-f",
        cfg.to_str().unwrap(),
        "-m",
        "POST",
        "-Z",
        bodies.to_str().unwrap(),
        "-n",
        "300",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["checks"][0]["pass_rate"], 1.0);
    let first = v["checks"][1]["pass_rate"].as_f64().unwrap();
    assert!((first - 1.0 / 3.0).abs() < 0.02, "{first}");

    let t = Target::start(&[]);
    let pattern = format!("{}app/item/[0-9]{{3}}", t.url.replace('.', "\\."));
    let o = kaioken(&["run", "--rand-regex-url", &pattern, "-n", "300", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = t.stats();
    let paths = s["paths"].as_object().unwrap();
    let re = regex::Regex::new(r"^/app/item/[0-9]{3}$").unwrap();
    assert!(paths.keys().all(|p| re.is_match(p)), "{paths:?}");
    assert_eq!(
        paths.values().map(|n| n.as_u64().unwrap()).sum::<u64>(),
        300
    );
    assert!(paths.len() > 200, "varied: {}", paths.len());
}

#[test]
fn filtered_thresholds_judge_their_scenario() {
    let t = Target::start(&[]);
    let cfg = format!(
        "{MIX}\n[thresholds]\n'p99_latency_ms{{scenario=\"health_check\"}}' = \"< 0.001\"\n'error_rate{{endpoint=\"users\"}}' = \"< 0.01\"\n"
    );
    let (code, v, err) = run(&t, &cfg, &["-n", "2000"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("health_check"), "{err}");
    let th = v["thresholds"].as_array().unwrap();
    let by = |n: &str| {
        th.iter()
            .find(|x| x["name"].as_str().unwrap().contains(n))
            .unwrap()
    };
    assert_eq!(by("endpoint")["passed"], true);
    assert_eq!(by("health_check")["passed"], false);
    assert_eq!(
        by("health_check")["observed"].as_f64().unwrap(),
        v["scenarios"]["health_check"]["latency_us"]["p99"]
            .as_f64()
            .unwrap()
            / 1000.0
    );
}

#[test]
fn bad_input_gets_one_line_naming_the_field() {
    let t = Target::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(String, Vec<&str>, &str)> = vec![
        (
            "[[scenarios]]\nurl = \"{url}x\"\n[scenarios.headers]\nAuthorization = \"Bearer ${never}\"\n".into(),
            vec![],
            "scenarios[0].headers.Authorization",
        ),
        (
            "[[scenarios]]\nurl = \"{url}x\"\n[scenarios.extract]\nt = \"json:$$[\"\n".into(),
            vec![],
            "JSONPath does not parse",
        ),
        (
            "[[scenarios]]\nurl = \"{url}x\"\n[scenarios.extract]\nt = \"regex:(a\"\n".into(),
            vec![],
            "regex does not compile",
        ),
        (
            "[[scenarios]]\nurl = \"http://127.0.0.2:1/x\"\n[[scenarios]]\nurl = \"{url}y\"\n".into(),
            vec![],
            "one origin",
        ),
        (
            "[[scenarios]]\nurl = \"{url}x\"\nweight = 0\n".into(),
            vec![],
            "at least one scenario a weight",
        ),
        (
            "[[scenarios]]\nurl = \"{url}x\"\n[thresholds]\n'p95_latency_ms{scenario=\"nope\"}' = \"< 5\"\n".into(),
            vec![],
            "no scenario named nope",
        ),
        (
            "[target]\nurl = \"{url}\"\n".into(),
            vec!["-F", "a=b", "-b", "x"],
            "body and form cannot be combined",
        ),
        (
            "[target]\nurl = \"{url}\"\n".into(),
            vec!["-F", "f=@/surely/not/here"],
            "cannot read /surely/not/here",
        ),
        (
            "[target]\nurl = \"{url}\"\n".into(),
            vec!["--rand-regex-url", "/a("],
            "rand_regex_url",
        ),
    ];
    for (cfg, extra, needle) in cases {
        let p = write_file(dir.path(), "bad.toml", &cfg.replace("{url}", &t.url));
        let mut args = vec!["run", "-f", p.to_str().unwrap(), "--dry-run"];
        args.extend(extra);
        let o = kaioken(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{cfg}: {err}");
        assert!(err.contains(needle), "{needle}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(t.served(), 0);
}

/// The README's scenario example runs as written (against a live target instead of :8080).
#[test]
fn the_readme_scenario_example_runs() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let (_, after) = readme
        .split_once("## Scenarios and request chaining")
        .unwrap();
    let block = after
        .split_once("```toml\n")
        .unwrap()
        .1
        .split_once("```")
        .unwrap()
        .0;
    let t = Target::start(&[]);
    let cfg = block.replace("http://127.0.0.1:8080/", "{url}") + "[load]\nconcurrency = 4\n";
    let (code, v, err) = run(&t, &cfg, &["-n", "1000"]);
    assert_eq!(code, 0, "{err}");
    let s = t.stats();
    assert_eq!(s["auth_refused"], 0, "{s}");
    assert_eq!(path_count(&s, "/app/me"), 700, "{s}");
    assert_eq!(path_count(&s, "/app/echo"), 300, "{s}");
    assert_eq!(v["scenarios"]["echo"]["check_pass_rate"], 1.0);
}

/// `serve --delay` holds the `/app/` routes too: no answer can come sooner than the delay, so
/// the fastest of 10 requests is at least 20 ms (and the route still answers as itself).
#[test]
fn serve_delay_applies_to_app_routes() {
    let t = Target::start(&["--delay", "20ms"]);
    let o = kaioken(&[
        "run",
        &format!("{}app/echo", t.url),
        "-n",
        "10",
        "-c",
        "1",
        "-b",
        "hi",
        "-m",
        "POST",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["status_codes"]["200"], 10, "{v}");
    let min = v["latency_us"]["min"].as_u64().unwrap();
    assert!(min >= 20_000, "fastest /app/ answer took {min} µs");
}
