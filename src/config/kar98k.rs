//! kar98k's YAML config, mapped onto the same raw config as kaioken's TOML, so
//! `kaioken run -f kar98k.yaml` drives the irregular-traffic (open) model.

use serde::Deserialize;

use super::{
    ConfigError, EnvString, Factor, RawConfig, RawHourRule, RawLoad, RawNoise, RawPattern,
    RawScenario, RawSchedule, RawSpikes, RawTarget,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Kar98k {
    targets: Vec<Target>,
    controller: Controller,
    #[serde(default)]
    pattern: Pattern,
    #[serde(default)]
    worker: Option<Worker>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    #[serde(default)]
    name: Option<String>,
    url: EnvString,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    method: Option<EnvString>,
    #[serde(default)]
    weight: Option<u32>,
    #[serde(default)]
    headers: Option<std::collections::BTreeMap<String, crate::config::TemplateString>>,
    #[serde(default)]
    body: Option<crate::config::TemplateString>,
    #[serde(default)]
    timeout: Option<EnvString>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Controller {
    base_tps: f64,
    #[serde(default)]
    max_tps: Option<f64>,
    #[serde(default)]
    min_tps: Option<f64>,
    #[serde(default)]
    schedule: Vec<RawHourRule>,
    #[serde(default)]
    timezone: Option<EnvString>,
    #[serde(default)]
    seed: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pattern {
    #[serde(default)]
    poisson: Option<Poisson>,
    #[serde(default)]
    noise: Option<Noise>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Poisson {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    lambda: Option<f64>,
    #[serde(default)]
    interval: Option<EnvString>,
    #[serde(default)]
    spike_factor: Option<Factor>,
    #[serde(default)]
    ramp_up: Option<EnvString>,
    #[serde(default)]
    hold: Option<EnvString>,
    #[serde(default)]
    ramp_down: Option<EnvString>,
    #[serde(default)]
    min_interval: Option<EnvString>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Noise {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    amplitude: Option<f64>,
    #[serde(default)]
    tau: Option<EnvString>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Worker {
    /// kar98k's goroutine pool: our open model's VU cap.
    pool_size: i64,
}

/// Parses kar98k YAML text; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
    let de = serde_norway::Deserializer::from_str(text);
    let k: Kar98k = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let location = match inner.location() {
            Some(l) => format!("{origin}:{}:{}", l.line(), l.column()),
            None => origin.to_string(),
        };
        let msg = inner.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        ConfigError::Invalid {
            location,
            key: if path.is_empty() || path == "." {
                String::new()
            } else {
                format!("{path}: ")
            },
            message: super::error::nearest_key_message(&msg),
        }
    })?;
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        location: origin.to_string(),
        key: format!("{key}: "),
        message,
    };
    if k.targets.is_empty() {
        return Err(invalid(
            "targets",
            "no target given: add one with a url".into(),
        ));
    }
    // Several targets become weighted scenarios on the first target's origin; one target is
    // the single request. Weight 0 would be a kaioken dependency, which kar98k has no
    // notion of, so it is refused.
    let mut http2 = None;
    for (i, t) in k.targets.iter().enumerate() {
        if t.weight == Some(0) {
            return Err(invalid(
                &format!("targets[{i}].weight"),
                format!(
                    "0 ({}) sends nothing: give a weight > 0 or remove the target",
                    t.name.as_deref().unwrap_or("unnamed")
                ),
            ));
        }
        let h2 = match t.protocol.as_deref().unwrap_or("http") {
            "http" | "http1" | "http/1.1" => false,
            "http2" | "h2" => true,
            other => {
                return Err(invalid(
                    &format!("targets[{i}].protocol"),
                    format!("`{other}` is not supported: use http or http2"),
                ));
            }
        };
        if http2.is_some_and(|p| p != h2)
            || (i > 0
                && t.timeout.as_ref().map(|x| &x.0) != k.targets[0].timeout.as_ref().map(|x| &x.0))
        {
            return Err(invalid(
                &format!("targets[{i}]"),
                "every target of one file shares one protocol and one timeout here: split the file"
                    .into(),
            ));
        }
        http2 = Some(h2);
    }
    let http2 = http2.unwrap_or(false);
    let several = k.targets.len() > 1;
    let mut targets = k.targets.into_iter();
    let t = targets.next().expect("checked non-empty");
    let scenarios = several.then(|| {
        std::iter::once(&t)
            .chain(targets.as_slice())
            .enumerate()
            .map(|(i, t)| RawScenario {
                name: Some(EnvString(
                    t.name
                        .clone()
                        .unwrap_or_else(|| format!("target_{}", i + 1)),
                )),
                url: Some(crate::config::TemplateString(t.url.0.clone())),
                method: t.method.clone(),
                headers: t.headers.clone(),
                body: t.body.clone(),
                weight: Some(i64::from(t.weight.unwrap_or(1))),
                ..RawScenario::default()
            })
            .collect::<Vec<_>>()
    });
    let poisson = k.pattern.poisson;
    let noise = k.pattern.noise;
    Ok(RawConfig {
        websocket: None,
        grpc: None,
        replay: None,
        capacity: None,
        thresholds: None,
        checks: None,
        target: Some(if several {
            RawTarget {
                url: Some(t.url),
                timeout: t.timeout,
                http2: Some(http2),
                ..RawTarget::default()
            }
        } else {
            RawTarget {
                url: Some(t.url),
                method: t.method,
                timeout: t.timeout,
                http2: Some(http2),
                headers: t.headers,
                body: t.body,
                ..RawTarget::default()
            }
        }),
        scenarios,
        load: Some(RawLoad {
            max_vus: k.worker.map(|w| w.pool_size),
            ..RawLoad::default()
        }),
        stages: None,
        pattern: Some(RawPattern {
            base_rate: Some(k.controller.base_tps),
            max_rate: k.controller.max_tps,
            floor_rate: k.controller.min_tps,
            seed: k.controller.seed,
            timezone: k.controller.timezone,
            interpolate: None,
            schedule: (!k.controller.schedule.is_empty())
                .then_some(RawSchedule::Rules(k.controller.schedule)),
            spikes: poisson.map(|p| RawSpikes {
                enabled: p.enabled,
                lambda: p.lambda,
                interval: p.interval,
                factor: p.spike_factor,
                ramp_up: p.ramp_up,
                hold: p.hold,
                ramp_down: p.ramp_down,
                min_gap: p.min_interval,
            }),
            noise: noise.map(|n| RawNoise {
                enabled: n.enabled,
                amplitude: n.amplitude,
                tau: n.tau,
            }),
        }),
    })
}
