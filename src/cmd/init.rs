//! `kaioken init`: a commented starter config that `kaioken run -f` accepts unchanged.

use std::path::Path;

use anyhow::bail;

use super::Exit;
use crate::cli::InitArgs;
use crate::results::atomic_write;

/// The starter config; `{URL}` is replaced. Every active key is one `run` understands, and
/// every commented key shows its default.
const TEMPLATE: &str = r#"# kaioken config: `kaioken run -f THIS_FILE` (command-line flags override these values)

[target]
url = "{URL}"
method = "GET"
timeout = "30s"            # per request
connect_timeout = "10s"
# http2 = false            # HTTP/2 (prior knowledge on http://, ALPN on https://)
# h2_streams = 10          # concurrent streams per HTTP/2 connection
# insecure = false         # skip TLS certificate verification
# disable_keepalive = false
# basic_auth = "${USER_NAME}:${PASSWORD}"   # ${VAR} reads the environment
# body = '{"name": "test", "id": ${REQUEST_ID}}'
# body_file = "payload.json"

[target.headers]
Accept = "application/json"
# Authorization = "Bearer ${API_TOKEN}"

[load]
concurrency = 10           # virtual users
duration = "30s"
# ramp_up = "5s"           # add VUs gradually
# warmup = "3s"            # run, but record nothing
# rate = 100               # cap at 100 requests/s (latency then counts from the intended send)
# think_time = "100ms"     # pause between a VU's requests
# Open model instead of concurrency (remove concurrency, ramp_up and think_time):
# arrival_rate = 100       # 100 new iterations/s ...
# max_vus = 200            # ... run by at most 200 VUs

# Every response is judged by every check.
[[checks]]
name = "status is 2xx"
condition = "status < 300"

# [[checks]]
# name = "has data"
# condition = "body contains \"data\""

# The run exits 4 when a threshold fails: a CI verdict.
[thresholds]
p95_latency_ms = "< 500"
error_rate = "< 0.01"
# check_pass_rate = "> 0.99"
# rps = "> 100"
"#;

pub fn init(args: &InitArgs) -> anyhow::Result<Exit> {
    let url = args.url.as_deref().unwrap_or("http://127.0.0.1:8080/");
    if url.contains('"') || url.contains('\n') {
        bail!("--url = {url}: a URL has no quotes or line breaks");
    }
    let out: &Path = &args.output;
    if out.exists() && !args.force {
        bail!(
            "{} exists; pass --force to overwrite it or -o to write elsewhere",
            out.display()
        );
    }
    atomic_write::write(out, TEMPLATE.replace("{URL}", url).as_bytes())?;
    eprintln!(
        "kaioken: wrote {}; run it with `kaioken run -f {}`",
        out.display(),
        out.display()
    );
    Ok(Exit::Success)
}
