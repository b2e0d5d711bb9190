//! `kaioken demo`: the built-in target in-process on an ephemeral loopback port, and a real
//! load test against it.

use std::net::SocketAddr;

use anyhow::Context;

use super::Exit;
use crate::cli::{DemoArgs, RunArgs};
use crate::target_server::{self, Behaviour};

pub fn demo(args: &DemoArgs) -> anyhow::Result<Exit> {
    let behaviour = Behaviour::from_options(&args.behaviour.options())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.behaviour.threads.unwrap_or(1).max(1))
        .thread_name("kaioken-target")
        .enable_all()
        .build()
        .context("starting the built-in target")?;
    let (addr, serve) = rt
        .block_on(target_server::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            behaviour,
        ))
        .context("binding the built-in target on 127.0.0.1")?;
    rt.spawn(serve);
    if !args.json {
        eprintln!(
            "kaioken demo: built-in target on http://{addr}; {} VUs for {}",
            args.concurrency, args.duration
        );
    }
    let run = RunArgs {
        url: Some(format!("http://{addr}/")),
        concurrency: Some(args.concurrency as i64),
        duration: Some(args.duration.clone()),
        output: args.output.iter().cloned().collect(),
        json: args.json,
        yes: true,
        ..RunArgs::default()
    };
    let exit = super::run::run(&run);
    rt.shutdown_background();
    exit
}
