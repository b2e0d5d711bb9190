//! `kaioken serve`: the built-in target in the foreground until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, anyhow};

use super::Exit;
use crate::cli::ServeArgs;
use crate::target_server::{self, Behaviour};

pub fn serve(args: &ServeArgs) -> anyhow::Result<Exit> {
    let behaviour = Behaviour::from_options(&args.behaviour.options())?;
    let ip: IpAddr = args.bind.parse().map_err(|_| {
        anyhow!(
            "--bind = {}: not an IP address; use e.g. 127.0.0.1",
            args.bind
        )
    })?;
    let threads = args
        .behaviour
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .context("starting the server runtime")?;
    rt.block_on(async {
        let (addr, serve) = target_server::bind(SocketAddr::new(ip, args.port), behaviour)
            .await
            .with_context(|| format!("cannot listen on {ip}:{}", args.port))?;
        println!("kaioken serve: listening on http://{addr} (HTTP/1.1 and h2c)");
        std::io::stdout().flush().context("writing to stdout")?;
        tokio::select! {
            _ = serve => {}
            _ = crate::cmd::run::shutdown_signal() => {}
        }
        Ok(Exit::Success)
    })
}
