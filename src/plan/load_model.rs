//! Load models: when requests are due. Only the closed model exists so far; the open,
//! rate-limited, staged, burst and irregular models extend [`LoadModel`].
//!
//! Adding a model: a variant here, its validation in `plan::build`, its schedule in
//! `engine`, its parameters in `Results::metadata.load`, and a test of its timing.

use std::fmt;
use std::time::Duration;

/// How load is offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadModel {
    /// `vus` users each send a request as soon as their previous one completes.
    Closed {
        vus: u64,
        /// `None`: no time limit (only with `max_requests`).
        duration: Option<Duration>,
        /// `None`: no request limit.
        max_requests: Option<u64>,
    },
}

impl LoadModel {
    /// The model's name as written in results.
    pub fn name(&self) -> &'static str {
        match self {
            LoadModel::Closed { .. } => "closed",
        }
    }

    pub fn vus(&self) -> u64 {
        match self {
            LoadModel::Closed { vus, .. } => *vus,
        }
    }

    pub fn duration(&self) -> Option<Duration> {
        match self {
            LoadModel::Closed { duration, .. } => *duration,
        }
    }

    pub fn max_requests(&self) -> Option<u64> {
        match self {
            LoadModel::Closed { max_requests, .. } => *max_requests,
        }
    }

    /// Which latency the model records: closed models have no intended send time, so their
    /// latency is the service time.
    pub fn latency_kind(&self) -> LatencyKind {
        match self {
            LoadModel::Closed { .. } => LatencyKind::ServiceTime,
        }
    }
}

impl fmt::Display for LoadModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadModel::Closed {
                vus,
                duration,
                max_requests,
            } => {
                write!(f, "closed, {vus} VUs")?;
                match duration {
                    Some(d) => write!(f, ", {}", humantime::format_duration(*d))?,
                    None => write!(f, ", no time limit")?,
                }
                if let Some(n) = max_requests {
                    write!(f, ", stop after {n} requests")?;
                }
                Ok(())
            }
        }
    }
}

/// What the `latency` figures measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyKind {
    /// Actual send → last byte (closed models, or `--no-latency-correction`).
    ServiceTime,
    /// Intended send time → last byte (coordinated-omission correct).
    FromIntendedSend,
}

impl LatencyKind {
    pub fn name(self) -> &'static str {
        match self {
            LatencyKind::ServiceTime => "service_time",
            LatencyKind::FromIntendedSend => "from_intended_send",
        }
    }
}
