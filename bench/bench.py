#!/usr/bin/env python3
"""kaioken's benchmark suite: kaioken against wrk, oha and h2load on one machine, one nginx.

Each case runs every tool in turn, alternating the order round by round (A B, B A, ...), and
reports medians. Per run it measures, from the OS (wait4's rusage of the child):
  - requests/s as the tool reports it (and the request count, to compute CPU per request),
  - CPU time per request: (user + sys) / requests,
  - peak RSS.
Client and server share the machine, so CPU per request is the fair per-tool figure.

Usage: bench/bench.py [--rounds N] [--seconds S] [--cases 1,2,3] [--out docs/BENCHMARKS.md]
"""

import argparse
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KAIOKEN = os.path.join(ROOT, "target", "release", "kaioken")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """nginx with one worker, access log off, a tiny static response; h1, h2c and TLS ports.

    The TLS ports have a P-256 ECDSA certificate made here with openssl (the common choice
    today) and offer TLS 1.2 only: wrk 4.1 and oha 1.16 negotiate TLS 1.2 even when 1.3 is
    offered (nginx's $ssl_protocol says so), so offering 1.2 alone makes every tool do the
    same cryptographic work. The first port resumes sessions (nginx's defaults: tickets);
    the second refuses resumption, so every new connection is a full handshake for every
    tool alike."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="kaioken-bench-")
        self.port, self.h2_port = free_port(), free_port()
        self.tls_port, self.tls_full_port = free_port(), free_port()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", f"{self.dir}/key.pem", "-out", f"{self.dir}/cert.pem"],
                       check=True, capture_output=True)
        conf = f"""worker_processes 1;
worker_rlimit_nofile 40000;
error_log {self.dir}/error.log;
pid {self.dir}/nginx.pid;
events {{ worker_connections 30000; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path {self.dir};
  proxy_temp_path {self.dir};
  fastcgi_temp_path {self.dir};
  uwsgi_temp_path {self.dir};
  scgi_temp_path {self.dir};
  server {{ listen 127.0.0.1:{self.port} backlog=16384; location / {{ return 200 "ok\\n"; }} }}
  server {{ listen 127.0.0.1:{self.h2_port} http2 backlog=16384; http2_max_concurrent_streams 128;
           location / {{ return 200 "ok\\n"; }} }}
  ssl_certificate {self.dir}/cert.pem;
  ssl_certificate_key {self.dir}/key.pem;
  ssl_protocols TLSv1.2;
  server {{ listen 127.0.0.1:{self.tls_port} ssl http2 backlog=16384;
           location / {{ return 200 "ok\\n"; }} }}
  server {{ listen 127.0.0.1:{self.tls_full_port} ssl backlog=16384;
           ssl_session_tickets off; ssl_session_cache off;
           location / {{ return 200 "ok\\n"; }} }}
}}
"""
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(
            ["/usr/sbin/nginx", "-p", self.dir, "-c", os.path.join(self.dir, "nginx.conf"),
             "-g", "daemon off; master_process off;"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        for port in (self.port, self.h2_port, self.tls_port, self.tls_full_port):
            deadline = time.time() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise SystemExit(f"nginx did not start on {port}")
                    time.sleep(0.05)

    def cpu_seconds(self):
        """nginx's user+sys CPU time so far (one process: master_process is off)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def url(self):
        return f"http://127.0.0.1:{self.port}/"

    def tls_url(self):
        return f"https://127.0.0.1:{self.tls_port}/"

    def tls_full_url(self):
        return f"https://127.0.0.1:{self.tls_full_port}/"

    def h2_url(self):
        return f"http://127.0.0.1:{self.h2_port}/"

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_measured(cmd):
    """Runs cmd under GNU time; returns (stdout, stderr, cpu_seconds, peak_rss_kb).

    GNU time (a small C program) forks the tool and reports its user+sys time and peak RSS.
    Measuring a child forked from this Python process directly would count Python's own
    resident size in the child's ru_maxrss high-water mark.
    """
    with tempfile.NamedTemporaryFile(mode="r", suffix=".time") as tf:
        proc = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%U %S %M", *cmd],
                              stdin=subprocess.DEVNULL, capture_output=True)
        out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
        fields = tf.read().strip().splitlines()[-1].split()
    user, sys_, rss = float(fields[0]), float(fields[1]), int(fields[2])
    if proc.returncode != 0:
        print(f"  ! {' '.join(cmd)} exited {proc.returncode}: {err.strip()[:300]}", file=sys.stderr)
    return out, err, user + sys_, rss


# Parsers: (requests, rps, errors) from each tool's output.

def parse_kaioken(out, err):
    v = json.loads(out)
    s = v["summary"]
    return s["total_requests"], s["requests_per_sec"], s["failed"], v


def parse_wrk(out, err):
    n = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    return n, rps, errors, None


def parse_oha(out, err):
    v = json.loads(out)
    codes = v.get("statusCodeDistribution", {})
    ok = sum(codes.values())
    errors = sum(v.get("errorDistribution", {}).values())
    rps = v["summary"]["requestsPerSec"]
    return ok + errors, rps, errors + sum(n for c, n in codes.items() if int(c) >= 400), None


def parse_h2load(out, err):
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    done, ok, failed, errored = int(m.group(3)), int(m.group(4)), int(m.group(5)), int(m.group(6))
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    return done, rps, failed + errored, None


K6_WS = """import ws from 'k6/ws';
import { Counter } from 'k6/metrics';
const echoes = new Counter('echoes');
const msg = 'm'.repeat(64);
export default function () {
  ws.connect(__ENV.URL, {}, function (socket) {
    socket.on('open', () => socket.send(msg));
    socket.on('message', () => { echoes.add(1); socket.send(msg); });
    socket.setTimeout(() => socket.close(), Number(__ENV.MS));
  });
}
"""


def k6_ws_cmd(url, c, secs):
    """k6 in a closed loop of WebSocket echoes: each VU sends the next message when the reply
    arrives, as kaioken's VUs do. Its summary goes to a file the parser reads."""
    d = tempfile.mkdtemp(prefix="kaioken-bench-k6-")
    script = os.path.join(d, "ws.js")
    with open(script, "w") as f:
        f.write(K6_WS)
    return ["k6", "run", "-q", "--vus", str(c), "--iterations", str(c), "-e", f"URL={url}",
            "-e", f"MS={secs * 1000}", "--summary-export", os.path.join(d, "summary.json"), script]


def parse_k6_ws(cmd):
    return parse_k6_counter(cmd, "echoes")


K6_GRPC = """import grpc from 'k6/net/grpc';
import { Counter } from 'k6/metrics';
const calls = new Counter('calls');
const client = new grpc.Client();
client.load([__ENV.DIR], 'greeter.proto');
export default function () {
  client.connect(__ENV.ADDR, { plaintext: true });
  const end = Date.now() + Number(__ENV.MS);
  while (Date.now() < end) {
    const r = client.invoke('kaioken.test.Greeter/SayHello', { name: 'bench' });
    if (r && r.status === grpc.StatusOK) calls.add(1);
  }
  client.close();
}
"""

PROTO = os.path.join(ROOT, "tests", "peers", "grpc", "greeter.proto")


def k6_grpc_cmd(addr, c, secs):
    """k6 in a closed loop of unary gRPC calls (k6/net/grpc, the proto loaded once, one
    client per VU as k6 runs them). Its summary goes to a file the parser reads."""
    d = tempfile.mkdtemp(prefix="kaioken-bench-k6-")
    script = os.path.join(d, "grpc.js")
    with open(script, "w") as f:
        f.write(K6_GRPC)
    return ["k6", "run", "-q", "--vus", str(c), "--iterations", str(c), "-e", f"ADDR={addr}",
            "-e", f"DIR={os.path.dirname(PROTO)}", "-e", f"MS={secs * 1000}",
            "--summary-export", os.path.join(d, "summary.json"), script]


def parse_k6_counter(cmd, name):
    def parse(out, err):
        with open(cmd[cmd.index("--summary-export") + 1]) as f:
            v = json.load(f)
        n = int(v["metrics"][name]["count"])
        return n, v["metrics"][name]["rate"], 0, None
    return parse


class PyPeer:
    """A Python server of the tests, started as they start it (`name port` lines, then
    `ready`): at one Python process it, not the client, sets the rate; CPU per message is the
    client's fair figure."""

    def __init__(self, script, name):
        script = os.path.join(ROOT, "tests", "peers", script)
        self.proc = subprocess.Popen([sys.executable, script, "/dev/null"], stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        self.port = None
        for line in self.proc.stdout:
            if line.strip() == "ready":
                break
            n, port = line.split()
            if n == name:
                self.port = int(port)

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class WsEcho(PyPeer):
    """The WebSocket echo server of the tests (PyPI `websockets`)."""

    def __init__(self):
        super().__init__("ws_server.py", "echo")

    def url(self):
        return f"ws://127.0.0.1:{self.port}/"


class GrpcServer(PyPeer):
    """The gRPC server of the tests (PyPI grpcio, a 16-thread pool)."""

    def __init__(self):
        super().__init__("grpc_server.py", "port")

    def addr(self):
        return f"127.0.0.1:{self.port}"


def kaioken_cmd(url, c, secs, *extra):
    return [KAIOKEN, "run", url, "-c", str(c), "-d", f"{secs}s", "--json", "-y", "--threads", "2", *extra]


def cases(ng, secs, ws=None, grpc=None):
    """Case number → (title, {tool: (cmd, parser)}). Thread counts match: 2 everywhere."""
    h1, h2, tls, full = ng.url(), ng.h2_url(), ng.tls_url(), ng.tls_full_url()
    oha = ["oha", "--no-tui", "--output-format", "json", "--insecure"]
    k6_ws = k6_ws_cmd(ws.url(), 50, secs) if ws else None
    k6_grpc = k6_grpc_cmd(grpc.addr(), 50, secs) if grpc else None
    return {
        1: ("HTTP/1.1, c=50, keep-alive", {
            "kaioken": (kaioken_cmd(h1, 50, secs), parse_kaioken),
            "wrk": (["wrk", "-t2", "-c50", f"-d{secs}s", h1], parse_wrk),
            "oha": (["oha", "--no-tui", "--output-format", "json", "-c", "50", "-z", f"{secs}s", h1], parse_oha),
        }),
        2: ("HTTP/1.1, c=1000, keep-alive", {
            "kaioken": (kaioken_cmd(h1, 1000, secs), parse_kaioken),
            "wrk": (["wrk", "-t2", "-c1000", f"-d{secs}s", h1], parse_wrk),
            "oha": (["oha", "--no-tui", "--output-format", "json", "-c", "1000", "-z", f"{secs}s", h1], parse_oha),
        }),
        3: ("HTTP/1.1, c=10,000, keep-alive", {
            "kaioken": (kaioken_cmd(h1, 10000, secs, "--connect-timeout", "30s"), parse_kaioken),
            "wrk": (["wrk", "-t2", "-c10000", f"-d{secs}s", "--timeout", "30s", h1], parse_wrk),
        }),
        4: ("HTTP/2 (h2c), 10 connections × 10 streams", {
            "kaioken": (kaioken_cmd(h2, 100, secs, "--http2", "--h2-streams", "10"), parse_kaioken),
            "h2load": (["h2load", "-t2", "-c10", "-m10", "-D", str(secs), h2], parse_h2load),
        }),
        5: ("HTTP/1.1, c=50, a new connection per request", {
            "kaioken": (kaioken_cmd(h1, 50, secs, "--disable-keepalive"), parse_kaioken),
            "wrk": (["wrk", "-t2", "-c50", f"-d{secs}s", "-H", "Connection: close", h1], parse_wrk),
        }),
        7: ("Scheduler precision: open model at 1k, 10k and 50k req/s for 10 s", {
            "kaioken 1k/s": (kaioken_cmd(h1, 1, 10, "--arrival-rate", "1000", "--max-vus", "1000"), parse_kaioken),
            "kaioken 10k/s": (kaioken_cmd(h1, 1, 10, "--arrival-rate", "10000", "--max-vus", "1000"), parse_kaioken),
            "kaioken 50k/s": (kaioken_cmd(h1, 1, 10, "--arrival-rate", "50000", "--max-vus", "1000"), parse_kaioken),
        }),
        8: ("HTTPS (TLS 1.2), c=50, keep-alive", {
            "kaioken": (kaioken_cmd(tls, 50, secs, "--insecure"), parse_kaioken),
            "wrk": (["wrk", "-t2", "-c50", f"-d{secs}s", tls], parse_wrk),
            "oha": ([*oha, "-c", "50", "-z", f"{secs}s", tls], parse_oha),
        }),
        9: ("HTTPS (TLS 1.2), c=50, a new connection per request, sessions resumed", {
            "kaioken": (kaioken_cmd(tls, 50, secs, "--insecure", "--disable-keepalive"), parse_kaioken),
            "wrk": (["wrk", "-t2", "-c50", f"-d{secs}s", "-H", "Connection: close", tls], parse_wrk),
            "oha": ([*oha, "-c", "50", "-z", f"{secs}s", "--disable-keepalive", tls], parse_oha),
        }),
        10: ("HTTPS (TLS 1.2), c=50, a new connection per request, full handshakes (the server refuses resumption)", {
            "kaioken": (kaioken_cmd(full, 50, secs, "--insecure", "--disable-keepalive"), parse_kaioken),
            "wrk": (["wrk", "-t2", "-c50", f"-d{secs}s", "-H", "Connection: close", full], parse_wrk),
            "oha": ([*oha, "-c", "50", "-z", f"{secs}s", "--disable-keepalive", full], parse_oha),
        }),
        11: ("WebSocket echo, c=50, 64-byte text messages (Python websockets server)", {
            "kaioken": (kaioken_cmd(ws.url(), 50, secs, "-b", "m" * 64), parse_kaioken),
            "k6": (k6_ws, parse_k6_ws(k6_ws)),
        }) if ws else None,
        12: ("gRPC unary, c=50 (Python grpcio server)", {
            "kaioken": (kaioken_cmd(f"http://{grpc.addr()}", 50, secs, "--grpc-service", "kaioken.test.Greeter",
                                    "--grpc-method", "SayHello", "--proto", PROTO, "-b", '{"name":"bench"}'),
                        parse_kaioken),
            "k6": (k6_grpc, parse_k6_counter(k6_grpc, "calls")),
        }) if grpc else None,
        6: ("Memory: case 1 for 5 s and for 60 s (kaioken)", {
            "kaioken 5 s": (kaioken_cmd(h1, 50, 5), parse_kaioken),
            "kaioken 60 s": (kaioken_cmd(h1, 50, 60), parse_kaioken),
        }),
    }


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30

    def version(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (p.stdout or p.stderr).strip().splitlines()[0]
        except Exception:  # noqa: BLE001 - a missing tool is reported, not fatal
            return "not installed"

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": f"{mem_gib:.1f} GiB",
        "kernel": platform.release(),
        "kaioken": version([KAIOKEN, "--version"]),
        "wrk": version(["wrk", "-v"]),
        "oha": version(["oha", "--version"]),
        "h2load": version(["h2load", "--version"]),
        "nginx": version(["/usr/sbin/nginx", "-v"]),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--cases", default="1,2,3,4,5,8,9,10,11,12,6,7")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    ap.add_argument("--render-only", action="store_true",
                    help="rewrite the report from the raw figures of the last run (docs/benchmarks.json)")
    a = ap.parse_args()
    raw_path = os.path.join(os.path.dirname(a.out), "benchmarks.json")
    if a.render_only:
        with open(raw_path) as f:
            raw = json.load(f)
        results = {int(k): (v[0], v[1], v[2] if len(v) > 2 else raw["when"])
                   for k, v in raw["results"].items()}
        a.rounds, a.seconds = raw["rounds"], raw["seconds"]
        write_report(a, results, raw["machine"], raw["when"])
        return
    # Cases not run this time keep their figures from the last run, with their own date.
    kept = {}
    if os.path.exists(raw_path):
        with open(raw_path) as f:
            raw = json.load(f)
        kept = {int(k): (v[0], v[1], v[2] if len(v) > 2 else raw["when"])
                for k, v in raw["results"].items()}
    wanted = [int(c) for c in a.cases.split(",") if c]

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(65536, hard), hard))

    ng = Nginx()
    ws = WsEcho() if 11 in wanted else None
    grpc = GrpcServer() if 12 in wanted else None
    results = {}
    try:
        all_cases = cases(ng, a.seconds, ws, grpc)
        for num in wanted:
            title, tools = all_cases[num]
            rounds = {6: 1, 7: 3}.get(num, a.rounds)
            print(f"case {num}: {title}", file=sys.stderr)
            runs = {t: [] for t in tools}
            order = list(tools)
            for r in range(rounds):
                for tool in (order if r % 2 == 0 else order[::-1]):
                    cmd, parse = tools[tool]
                    server = {11: ws, 12: grpc}.get(num, ng)
                    s0, w0 = server.cpu_seconds(), time.monotonic()
                    out, err, cpu, rss = run_measured(cmd)
                    server_cpu, wall = server.cpu_seconds() - s0, time.monotonic() - w0
                    try:
                        n, rps, errors, doc = parse(out, err)
                    except Exception as e:  # noqa: BLE001
                        print(f"  ! cannot parse {tool} output: {e}: {out[:200]} {err[:200]}", file=sys.stderr)
                        continue
                    row = {"requests": n, "rps": rps, "errors": errors,
                           "cpu_us_per_req": cpu * 1e6 / max(n, 1), "rss_mb": rss / 1024,
                           "server_us_per_req": server_cpu * 1e6 / max(n, 1),
                           "server_busy": server_cpu / wall}
                    if doc is not None and doc["load"].get("target_rate"):
                        row["achieved_ratio"] = doc["load"]["achieved_rate"] / doc["load"]["target_rate"]
                        lag = doc["schedule_lag_us"]
                        row.update(lag_p50=lag["p50"], lag_p99=lag["p99"], lag_max=lag["max"],
                                   dropped=doc["load"]["dropped_iterations"])
                    runs[tool].append(row)
                    print(f"  round {r + 1} {tool:>12}: {rps:>10.0f} req/s  "
                          f"{cpu * 1e6 / max(n, 1):6.2f} µs CPU/req  {rss / 1024:7.1f} MB  errors {errors}  "
                          f"server {server_cpu / wall:.2f} cores",
                          file=sys.stderr)
                    time.sleep(0.5)
            results[num] = (title, runs, None)
    finally:
        ng.stop()
        for peer in (ws, grpc):
            if peer:
                peer.stop()
    mach, when = machine(), time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
    results = {num: (t, r, w or when) for num, (t, r, w) in results.items()}
    results = {**{n: v for n, v in kept.items() if n not in results}, **results}
    with open(raw_path, "w") as f:
        json.dump({"results": results, "machine": mach, "when": when, "rounds": a.rounds, "seconds": a.seconds}, f, indent=1)
    write_report(a, results, mach, when)


def med(runs, key):
    vals = [r[key] for r in runs]
    return statistics.median(vals) if vals else float("nan")


def write_report(a, results, mach, when):
    lines = ["# Benchmarks", "",
             "Generated by `./bench/run` (bench/bench.py). Medians over the rounds; tools alternate",
             "order every round. CPU per request is the tool's user+sys time (GNU time) divided",
             "by the requests it completed; client and server share the machine, so this is the fair",
             "per-tool figure. nginx: 1 worker, access log off, `return 200 \"ok\\n\"`, loopback.",
             "The server's own CPU (from /proc, over each run: nginx, or the Python WebSocket server",
             "in case 11, the Python gRPC server in case 12) is shown beside it: at ~1.0 core it is",
             "saturated, and requests/s then",
             "measures the server, not the client.", "",
             f"Rounds: {a.rounds}, seconds per run: {a.seconds}. Last run at "
             f"{when}; each case says when it was measured.", "", "## Machine", ""]
    for k, v in mach.items():
        lines.append(f"- {k}: {v}")
    for num, (title, runs, at) in sorted(results.items()):
        if num == 7:
            lines += ["", f"## Case {num}: {title}", "", f"Measured {at}.", "",
                      "Open model (`--arrival-rate R --max-vus 1000`), medians of 3 runs. Schedule lag is",
                      "actual − intended send time; latency is measured from the intended time, so lag is",
                      "inside every latency figure.", "",
                      "| rate | achieved ÷ target | lag p50 µs | lag p99 µs | lag max µs | dropped | CPU µs/req |",
                      "|---|---:|---:|---:|---:|---:|---:|"]
            for tool, rs in runs.items():
                lines.append(f"| {tool.split()[1]} | {med(rs, 'achieved_ratio'):.4f} | {med(rs, 'lag_p50'):.0f} | "
                             f"{med(rs, 'lag_p99'):.0f} | {med(rs, 'lag_max'):.0f} | {med(rs, 'dropped'):.0f} | "
                             f"{med(rs, 'cpu_us_per_req'):.2f} |")
            continue
        lines += ["", f"## Case {num}: {title}", "", f"Measured {at}.", "",
                  "| tool | req/s | CPU µs/req | peak RSS MB | errors | kaioken req/s ÷ tool | tool CPU/req ÷ kaioken | server cores busy | server µs/req |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        k_rps = med(runs.get("kaioken", []), "rps")
        k_cpu = med(runs.get("kaioken", []), "cpu_us_per_req")
        for tool, rs in runs.items():
            rps, cpu = med(rs, "rps"), med(rs, "cpu_us_per_req")
            has_k = "kaioken" in runs and tool != "kaioken"
            ratio = f"{k_rps / rps:.2f}" if has_k and rps else "—"
            cratio = f"{cpu / k_cpu:.2f}" if has_k and k_cpu else "—"
            server = "— | —"
            if rs and "server_busy" in rs[0]:
                server = f"{med(rs, 'server_busy'):.2f} | {med(rs, 'server_us_per_req'):.2f}"
            lines.append(f"| {tool} | {rps:,.0f} | {cpu:.2f} | {med(rs, 'rss_mb'):.1f} | "
                         f"{med(rs, 'errors'):.0f} | {ratio} | {cratio} | {server} |")
    notes = os.path.join(ROOT, "bench", "notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            lines += ["", f.read().rstrip()]
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, a.out)
    print(text)


if __name__ == "__main__":
    main()
