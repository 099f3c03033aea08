//! `fieldvault-bench`: what a request costs on the local stack (run it with infra/bench.sh,
//! which starts DynamoDB Local + moto and builds the function binaries; see bench/README.md).
//!
//! Everything runs in this process against 127.0.0.1 only: the stack is provisioned here, the
//! app (with DynamoDB call counting) is served by the local gateway on a loopback port, and
//! the function binaries are spawned against a local Lambda Runtime API for cold starts.
//! Every loop is bounded by a request count or a deadline.
mod bare;
mod coldstart;
mod fixture;
mod phases;
mod report;
mod stats;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use fixture::{Case, Fixture};
use report::{Config, Machine, Results};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Res<T> = Result<T, BoxError>;

const USAGE: &str = "usage: fieldvault-bench [--requests N] [--warmup N] [--seconds S] \
[--cold-runs N] [--skip-cold] [--cases KEY,KEY] [--target-dir DIR] [--lambda-dir DIR] [--out DIR]";

struct Options {
    requests: usize,
    warmup: usize,
    seconds: f64,
    cold_runs: usize,
    skip_cold: bool,
    /// The actions to measure (all by default).
    cases: Vec<Case>,
    target_dir: PathBuf,
    /// Where cargo-lambda put `<binary>/bootstrap` (default `<target-dir>/lambda`).
    lambda_dir: Option<PathBuf>,
    out: PathBuf,
}

fn options() -> Res<Options> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = Options {
        requests: 300,
        warmup: 50,
        seconds: 3.0,
        cold_runs: 5,
        skip_cold: false,
        cases: Case::ALL.to_vec(),
        target_dir: PathBuf::from("target"),
        lambda_dir: None,
        out: PathBuf::from("bench/results"),
    };
    let mut i = 0;
    while i < args.len() {
        let value = || {
            args.get(i + 1)
                .cloned()
                .ok_or_else(|| format!("{} needs a value\n{USAGE}", args[i]))
        };
        match args[i].as_str() {
            "--requests" => o.requests = value()?.parse()?,
            "--warmup" => o.warmup = value()?.parse()?,
            "--seconds" => o.seconds = value()?.parse()?,
            "--cold-runs" => o.cold_runs = value()?.parse()?,
            "--cases" => o.cases = Case::parse_list(&value()?)?,
            "--target-dir" => o.target_dir = value()?.into(),
            "--lambda-dir" => o.lambda_dir = Some(value()?.into()),
            "--out" => o.out = value()?.into(),
            "--skip-cold" => {
                o.skip_cold = true;
                i += 1;
                continue;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
        }
        i += 2;
    }
    if !(1..=10_000).contains(&o.requests) || o.warmup > 10_000 {
        return Err("--requests must be 1..=10000 and --warmup at most 10000".into());
    }
    if !(0.1..=60.0).contains(&o.seconds) || o.cold_runs > 50 {
        return Err("--seconds must be 0.1..=60 and --cold-runs at most 50".into());
    }
    Ok(o)
}

const SEEDED: usize = 40;
const CONCURRENCY: [usize; 3] = [1, 8, 32];
/// Requests per worker at most, whatever the duration.
const WORKER_CAP: usize = 20_000;

fn step(started: Instant, what: &str) {
    eprintln!("== {what} ({:.0}s)", started.elapsed().as_secs_f64());
}

async fn run(o: Options) -> Res<()> {
    let started = Instant::now();
    let machine = Machine::probe();
    step(started, "provisioning the local stack, onboarding a tenant");
    let mut fx = Fixture::setup().await?;
    step(started, "first request of each sign-in");
    let sign_in = phases::sign_in(&fx).await?;
    step(started, &format!("seeding {SEEDED} customers"));
    fx.seed(SEEDED).await?;
    if o.cases.contains(&Case::IssueInvoice) {
        // Every stage of every issue request issues its own draft (warm-up included).
        let drafts = (o.warmup + o.requests) * 4;
        step(started, &format!("seeding {drafts} draft invoices"));
        fx.seed_drafts(drafts).await?;
    }
    let fx: &'static Fixture = Box::leak(Box::new(fx));

    step(started, "gateway parts (JWT, event, HTTP floor)");
    let parts = phases::parts(fx, o.requests).await?;
    let mut cases = Vec::new();
    for &case in &o.cases {
        step(
            started,
            &format!(
                "{}: {} sequential requests per stage after {} warm-up",
                case.label(),
                o.requests,
                o.warmup
            ),
        );
        cases.push(phases::sequential(fx, case, o.warmup, o.requests).await?);
    }
    for case in Case::MAIN.into_iter().filter(|c| o.cases.contains(c)) {
        for c in CONCURRENCY {
            step(
                started,
                &format!("{}: throughput at concurrency {c}", case.label()),
            );
            let t = phases::throughput(fx, case, c, o.seconds, WORKER_CAP).await?;
            if let Some(r) = cases.iter_mut().find(|r| r.case == case.key()) {
                r.throughput.push(t);
            }
        }
    }
    let sts_calls = fx.app.sessions.sts_calls();

    let lambda_dir = o
        .lambda_dir
        .clone()
        .unwrap_or_else(|| o.target_dir.join("lambda"));
    let functions: Vec<String> = std::env::var("FV_BENCH_FUNCTIONS")
        .map_err(|_| "FV_BENCH_FUNCTIONS (the binaries infra/bench.sh built) is not set")?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let sizes = report::sizes(&o.target_dir, &lambda_dir, &functions);
    let mut cold_starts = Vec::new();
    if !o.skip_cold {
        let logs = o.out.join("cold-start-logs");
        std::fs::create_dir_all(&logs)?;
        let mut env_local: Vec<(String, String)> = [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_EC2_METADATA_DISABLED",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_DYNAMODB",
        ]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
        .collect();
        env_local.extend(fx.stack.env().into_iter().map(|(k, v)| (k.to_owned(), v)));
        for z in &sizes {
            if z.bytes.is_none() {
                continue;
            }
            step(started, &format!("cold start: {}", z.binary));
            let mut env = env_local.clone();
            env.extend([
                ("AWS_LAMBDA_FUNCTION_NAME".to_owned(), z.binary.clone()),
                (
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_owned(),
                    "256".to_owned(),
                ),
                ("AWS_LAMBDA_FUNCTION_VERSION".to_owned(), "1".to_owned()),
                (
                    "AWS_LAMBDA_LOG_GROUP_NAME".to_owned(),
                    format!("/aws/lambda/{}", z.binary),
                ),
                ("AWS_LAMBDA_LOG_STREAM_NAME".to_owned(), "bench".to_owned()),
            ]);
            let env_aws: Vec<(String, String)> = env
                .iter()
                .filter(|(k, _)| k != "AWS_ENDPOINT_URL_DYNAMODB")
                .cloned()
                .collect();
            let log = logs.join(format!("{}.log", z.binary));
            let _ = std::fs::remove_file(&log);
            cold_starts.push(coldstart::measure(&z.path, &env_aws, o.cold_runs, &log).await);
        }
    }

    let costs: BTreeMap<String, report::Cost> = cases
        .iter()
        .map(|c| (c.case.to_owned(), report::cost(c)))
        .collect();
    let results = Results {
        machine,
        config: Config {
            requests: o.requests,
            warmup: o.warmup,
            seeded_customers: SEEDED,
            throughput_seconds: o.seconds,
            throughput_concurrency: CONCURRENCY.to_vec(),
            cold_runs: o.cold_runs,
        },
        sign_in,
        cases,
        costs,
        parts,
        sizes,
        cold_starts,
        sts_calls,
        // One session per user, plus the onboarding operator's and the payment provider's.
        sts_expected: fx.users.len() as u64 + 2,
        runtime_seconds: started.elapsed().as_secs_f64(),
    };
    let md = report::markdown(&results);
    std::fs::create_dir_all(&o.out)?;
    std::fs::write(o.out.join("latest.md"), &md)?;
    std::fs::write(
        o.out.join("latest.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    println!("{md}");
    eprintln!(
        "== wrote {} and {}",
        o.out.join("latest.md").display(),
        o.out.join("latest.json").display()
    );
    Ok(())
}

/// One thread, as the functions run (`fieldvault_aws::app::serve`): the client, the gateway,
/// the handlers and the bare calls share it, so no stage pays cross-thread wake-ups that a
/// deployed function does not.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    fieldvault_aws::install_tls_provider();
    let result = match options() {
        Ok(o) => run(o).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("fieldvault-bench: {e}");
        std::process::exit(1);
    }
}
