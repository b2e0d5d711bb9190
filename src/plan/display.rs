//! What `--dry-run` prints: the plan, every value after defaults, secrets redacted.

use std::fmt;

use super::{Plan, Protocol};

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sc = &self.scenarios;
        if sc.explicit {
            writeln!(f, "Origin:      {}", self.target.redacted_url())?;
            writeln!(f, "Scenarios:   {} defined", sc.list.len())?;
            let total = sc.total_weight().max(1) as f64;
            for s in &sc.list {
                let share = if s.weight == 0 {
                    "weight=0 (dependency: runs first, and again when its values are missing)"
                        .to_string()
                } else {
                    format!(
                        "weight={} ({:.0}%)",
                        s.weight,
                        f64::from(s.weight) * 100.0 / total
                    )
                };
                let what = match &s.grpc {
                    Some(g) => format!("gRPC {} {}", g.kind().name(), g.path()),
                    None if s.websocket => format!("WebSocket message on {}", s.url),
                    None => format!("{} {}", s.request.method, s.url),
                };
                writeln!(f, "  - {} ({what}) {share}", s.name)?;
                for e in &s.extract {
                    writeln!(f, "      extracts ${{{}}} from {}", e.name, e.text)?;
                }
                if !s.tags.is_empty() {
                    let tags: Vec<String> =
                        s.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    writeln!(f, "      tags {}", tags.join(", "))?;
                }
            }
        } else {
            writeln!(
                f,
                "Target:      {} {}",
                self.request().method,
                self.target.redacted_url()
            )?;
        }
        let proto = match self.protocol {
            Protocol::Http2 { streams } if let Some(g) = &self.grpc => {
                let types = match &g.schema {
                    super::grpc::Schema::Raw => "raw protobuf body".to_string(),
                    super::grpc::Schema::Proto { files, .. } => format!(
                        "JSON body through {}",
                        files
                            .iter()
                            .map(|f| f.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    super::grpc::Schema::Protoset(p) => {
                        format!("JSON body through {}", p.display())
                    }
                    super::grpc::Schema::Reflect => {
                        "JSON body, types from server reflection".to_string()
                    }
                };
                let call = if self.scenarios.explicit {
                    "calls as each scenario says".to_string()
                } else {
                    format!("{} {}", g.kind().name(), g.path())
                };
                let mut s =
                    format!("gRPC {call}, {types}, up to {streams} streams per HTTP/2 connection");
                if g.stream_messages > 1 {
                    s.push_str(&format!(", {} messages per call", g.stream_messages));
                }
                s
            }
            Protocol::Http1 if self.keepalive => "HTTP/1.1, keep-alive".to_string(),
            Protocol::Http1 => "HTTP/1.1, new connection per request".to_string(),
            Protocol::Http2 { streams } => {
                format!("HTTP/2, up to {streams} streams per connection")
            }
            Protocol::WebSocket => {
                let mut s = format!(
                    "WebSocket, one connection per VU, {} messages, {}",
                    if self.websocket.binary {
                        "binary"
                    } else {
                        "text"
                    },
                    if self.websocket.fire_and_forget {
                        "fire-and-forget (replies counted, not awaited)"
                    } else {
                        "each waits for its reply"
                    }
                );
                if !self.websocket.subprotocols.is_empty() {
                    s.push_str(&format!(
                        ", subprotocols offered: {}",
                        self.websocket.subprotocols.join(", ")
                    ));
                }
                s
            }
        };
        writeln!(f, "Protocol:    {proto}")?;
        for c in &self.connect_to {
            writeln!(
                f,
                "Connect to:  {}:{} → {}:{} (Host and TLS name stay the URL's)",
                c.host.as_deref().unwrap_or("*"),
                c.port.map_or("*".to_string(), |p| p.to_string()),
                c.addr,
                c.to_port.map_or("same port".to_string(), |p| p.to_string()),
            )?;
        }
        for r in &self.dns.resolve {
            let addrs: Vec<String> = r.addrs.iter().map(|a| a.to_string()).collect();
            writeln!(
                f,
                "Resolve:     {}:{} → {}",
                r.host,
                r.port.map_or("*".to_string(), |p| p.to_string()),
                addrs.join(", ")
            )?;
        }
        if self.dns != super::Dns::default() {
            writeln!(
                f,
                "DNS:         {} address per new connection, answers kept {}",
                self.dns.select.name(),
                self.dns.ttl.map_or("for the whole run".to_string(), |t| {
                    humantime::format_duration(t).to_string()
                })
            )?;
        }
        if !self.local_addresses.is_empty() {
            let addrs: Vec<String> = self.local_addresses.iter().map(|a| a.to_string()).collect();
            writeln!(
                f,
                "From:        {} (source addresses, spread over connections)",
                addrs.join(", ")
            )?;
        }
        if let Some(p) = &self.proxy {
            writeln!(f, "Proxy:       {} (from {})", p.redacted(), p.origin())?;
        }
        if self.target.scheme == super::Scheme::Https {
            let mut tls = if self.insecure {
                "certificates NOT verified (--insecure)".to_string()
            } else {
                "certificates verified against the platform's trust store".to_string()
            };
            if let Some(ca) = &self.tls.cacert {
                tls.push_str(&format!(" and {}", ca.display()));
            }
            if let Some((cert, _)) = &self.tls.client {
                tls.push_str(&format!("; client certificate {}", cert.display()));
            }
            if !self.tls_resume {
                tls.push_str("; full handshakes (no session resumption)");
            }
            writeln!(f, "TLS:         {tls}")?;
        }
        writeln!(f, "Load model:  {}", self.load)?;
        writeln!(f, "Concurrency: {}", self.load.vus())?;
        match self.load.duration() {
            Some(d) => writeln!(f, "Duration:    {}", humantime::format_duration(d))?,
            None => writeln!(
                f,
                "Duration:    until {} requests",
                self.load.max_requests().unwrap_or(0)
            )?,
        }
        writeln!(f, "Threads:     {}", self.threads)?;
        writeln!(
            f,
            "Timeouts:    request {}, connect {}",
            humantime::format_duration(self.timeout),
            humantime::format_duration(self.connect_timeout)
        )?;
        if self.cookie_jar {
            writeln!(f, "Cookies:     a cookie jar per VU")?;
        }
        if !self.follow_redirects {
            writeln!(f, "Redirects:   not followed (3xx recorded as is)")?;
        }
        if !sc.explicit {
            for (name, value) in &self.request().headers {
                let shown = if crate::plan::redact::is_secret_header(name.as_str()) {
                    "[redacted]".to_string()
                } else {
                    value.to_string()
                };
                writeln!(f, "Header:      {name}: {shown}")?;
            }
            if !self.request().body.is_empty() {
                writeln!(
                    f,
                    "Body:        {} bytes",
                    self.request().body.sample().len()
                )?;
            }
        }
        for c in &self.checks.list {
            writeln!(f, "Check:       {c}")?;
        }
        for t in &self.thresholds {
            writeln!(f, "Threshold:   {t}")?;
        }
        if self.fail_fast {
            writeln!(f, "Fail fast:   stop at the first threshold breach")?;
        }
        Ok(())
    }
}
