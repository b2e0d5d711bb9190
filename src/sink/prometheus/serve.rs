//! `/metrics` for Prometheus to scrape: hyper's server on a listener bound before the run
//! (so a busy port fails at start), loopback unless `--prometheus-bind` says otherwise.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::Notify;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub struct MetricsServer {
    pub addr: SocketAddr,
    listener: TcpListener,
    scraped: Arc<Notify>,
}

impl MetricsServer {
    pub async fn bind(addr: SocketAddr) -> std::io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr).await?;
        Ok(MetricsServer {
            addr: listener.local_addr()?,
            listener,
            scraped: Arc::new(Notify::new()),
        })
    }

    /// Signalled after every `/metrics` response.
    pub fn scraped(&self) -> Arc<Notify> {
        self.scraped.clone()
    }

    /// Serves until dropped (the task is aborted at the end of the run).
    pub async fn serve(self, registry: Arc<Registry>) {
        loop {
            let Ok((stream, _)) = self.listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let registry = registry.clone();
            let scraped = self.scraped.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let response = respond(&registry, &req);
                    let scraped = scraped.clone();
                    async move {
                        if response.status() == 200 {
                            scraped.notify_waiters();
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                let _closed = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    }
}

fn respond(registry: &Registry, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.uri().path() != "/metrics" {
        return Response::builder()
            .status(404)
            .body(Full::new(Bytes::from_static(
                b"kaioken serves /metrics only\n",
            )))
            .expect("static response");
    }
    Response::builder()
        .header("content-type", CONTENT_TYPE)
        .body(Full::new(Bytes::from(super::openmetrics(registry))))
        .expect("static response parts")
}
