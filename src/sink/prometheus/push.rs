//! Pushgateway: `PUT` the figures every interval under the grouping key
//! `job="kaioken", instance=<target>`, and `DELETE` the group at the end unless asked to keep
//! it. One kept-alive HTTP/1.1 connection through hyper's client; a failed push is reported
//! once and retried at the next interval, never fatal to the run.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;
use tokio::net::TcpStream;

use super::PushConfig;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(
        "prometheus_pushgateway = {0}: give an http:// URL with host and port, e.g. http://127.0.0.1:9091"
    )]
    Url(String),
}

pub struct Pusher {
    authority: String,
    path: String,
    registry: Arc<Registry>,
    keep: bool,
    interval: std::time::Duration,
    sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    warned: bool,
}

impl Pusher {
    pub fn new(
        cfg: &PushConfig,
        target: &str,
        registry: Arc<Registry>,
    ) -> Result<Pusher, PushError> {
        let rest = cfg
            .url
            .strip_prefix("http://")
            .ok_or_else(|| PushError::Url(cfg.url.clone()))?;
        let (authority, base) = match rest.split_once('/') {
            Some((a, p)) => (a, format!("/{}", p.trim_end_matches('/'))),
            None => (rest, String::new()),
        };
        if authority.is_empty() || authority.parse::<http::uri::Authority>().is_err() {
            return Err(PushError::Url(cfg.url.clone()));
        }
        let base = if base == "/" { String::new() } else { base };
        // A URL is not a valid path segment; Pushgateway's `@base64` form carries any value.
        let instance = URL_SAFE_NO_PAD.encode(target);
        Ok(Pusher {
            authority: authority.to_string(),
            path: format!("{base}/metrics/job/kaioken/instance@base64/{instance}"),
            registry,
            keep: cfg.keep,
            interval: cfg.interval,
            sender: None,
            warned: false,
        })
    }

    async fn send(&mut self, method: &str, body: String) -> Result<(), String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(&self.authority)
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", self.authority))?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut().expect("connected above");
        sender.ready().await.map_err(|e| e.to_string())?;
        let req = Request::builder()
            .method(method)
            .uri(&self.path)
            .header("host", &self.authority)
            .header("content-type", "text/plain; version=0.0.4")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let text = resp
            .into_body()
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {status}: {}", text.trim()))
        }
    }

    async fn push(&mut self) {
        let body = super::text_004(&super::openmetrics(&self.registry));
        if let Err(e) = self.send("PUT", body).await
            && !self.warned
        {
            self.warned = true;
            eprintln!("kaioken: pushgateway push failed ({e}); retrying every interval");
        }
    }

    /// Pushes every interval until `stop` fires, then finishes: a last push of the final
    /// figures, and the group deleted unless `keep`.
    pub async fn run(mut self, mut stop: tokio::sync::oneshot::Receiver<()>) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.push().await,
                _ = &mut stop => break,
            }
        }
        self.finish().await;
    }

    async fn finish(mut self) {
        self.push().await;
        if !self.keep
            && let Err(e) = self.send("DELETE", String::new()).await
        {
            eprintln!("kaioken: could not delete the pushgateway group ({e})");
        }
    }
}
