//! Cold start of the function binaries against a minimal Lambda Runtime API on loopback.
//!
//! Each run spawns the binary with the environment Lambda would give it and
//! `AWS_LAMBDA_RUNTIME_API` pointing here; init = first `GET .../invocation/next` minus the
//! moment before spawn. The poll is held (no event), and the process is killed by its own
//! handle.
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fieldvault_tools::runtime_api::RuntimeApi;
use serde::Serialize;

use crate::stats::median_ms;
use crate::Res;

const RUN_TIMEOUT: Duration = Duration::from_secs(15);

/// One spawn of a function binary: its init time.
pub async fn run_once(binary: &Path, env: &[(String, String)], log: &Path) -> Res<Duration> {
    let runtime = RuntimeApi::start(None).await?;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut cmd = tokio::process::Command::new(binary);
    cmd.env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", runtime.addr().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .kill_on_drop(true);
    let spawned_at = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", binary.display()))?;

    let deadline = spawned_at + RUN_TIMEOUT;
    let result = loop {
        if let Some(e) = runtime.error() {
            break Err(format!("{} reported an error: {e}", binary.display()).into());
        }
        if let Some(n) = runtime.first_poll() {
            break Ok(n - spawned_at);
        }
        if let Some(status) = child.try_wait()? {
            break Err(format!(
                "{} exited ({status}) before it polled for an event; see {}",
                binary.display(),
                log.display()
            )
            .into());
        }
        if Instant::now() > deadline {
            break Err(format!(
                "{} did not reach the runtime API within {RUN_TIMEOUT:?}; see {}",
                binary.display(),
                log.display()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    };
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    result
}

#[derive(Debug, Serialize)]
pub struct ColdStart {
    pub binary: String,
    /// Init with the environment of AWS (no DynamoDB endpoint override); nothing is invoked.
    /// The binaries are the deployable build: without the `local` feature they hold no
    /// policy guard, so they have no local mode to measure (the local stack serves the
    /// handlers in-process).
    pub init_aws_ms: Vec<f64>,
    pub init_aws_median_ms: Option<f64>,
    pub error: Option<String>,
}

/// `runs` spawns with the environment of AWS.
pub async fn measure(
    binary: &Path,
    env_aws: &[(String, String)],
    runs: usize,
    log: &Path,
) -> ColdStart {
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = ColdStart {
        binary: name,
        init_aws_ms: Vec::new(),
        init_aws_median_ms: None,
        error: None,
    };
    let mut aws = Vec::new();
    for _ in 0..runs {
        match run_once(binary, env_aws, log).await {
            Ok(init) => aws.push(init),
            Err(e) => {
                out.error = Some(e.to_string());
                break;
            }
        }
    }
    out.init_aws_ms = aws.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    out.init_aws_median_ms = median_ms(&aws);
    out
}
