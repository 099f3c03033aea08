//! Binary sizes, machine facts, the cost model, and the markdown/JSON report.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::coldstart::ColdStart;
use crate::phases::{CaseResult, Parts, SignIn};
use crate::stats::ms;

// AWS on-demand prices, us-east-1, from the AWS pricing pages:
//   https://aws.amazon.com/lambda/pricing/               (Arm: per GB-second, per request)
//   https://aws.amazon.com/api-gateway/pricing/          (HTTP APIs, first 300 million/month)
//   https://aws.amazon.com/dynamodb/pricing/on-demand/   (write/read request units)
// PRICES_AS_OF is the date from which all four hold: DynamoDB's on-demand price cut of
// 2024-11-01 was the latest change among them. Re-check the pages before quoting the totals.
pub const PRICES_AS_OF: &str = "2024-11-01";
pub const LAMBDA_ARM_PER_GB_SECOND: f64 = 0.000_013_333_4;
pub const LAMBDA_PER_MILLION_REQUESTS: f64 = 0.20;
pub const HTTP_API_PER_MILLION_REQUESTS: f64 = 1.00;
pub const DYNAMODB_PER_MILLION_WRU: f64 = 0.625;
pub const DYNAMODB_PER_MILLION_RRU: f64 = 0.125;
/// template.yaml Globals.Function.MemorySize.
pub const LAMBDA_MEMORY_MB: f64 = 256.0;

pub const TARGET_RATIO_P50: f64 = 1.3;
pub const TARGET_SIZE_BYTES: u64 = 10_000_000;
pub const TARGET_COLD_START_MS: f64 = 30.0;

/// The function binaries (one per template function).

#[derive(Debug, Serialize)]
pub struct Cost {
    /// The handler's in-process p50, rounded up to whole milliseconds (Lambda's billing unit).
    pub billed_ms: u64,
    pub lambda_requests: f64,
    pub lambda_compute: f64,
    pub http_api: f64,
    pub dynamodb_writes: f64,
    pub dynamodb_reads: f64,
    pub total: f64,
    /// The total with write units by AWS's published rules instead of DynamoDB Local's.
    pub total_aws_rule_wru: f64,
}

/// Dollars per million requests of a case.
pub fn cost(c: &CaseResult) -> Cost {
    let billed_ms = ((c.handler.p50_us / 1000.0).ceil() as u64).max(1);
    let gb_seconds = LAMBDA_MEMORY_MB / 1024.0 * billed_ms as f64 / 1000.0;
    let lambda_compute = gb_seconds * 1e6 * LAMBDA_ARM_PER_GB_SECOND;
    let dynamodb_writes = c.wru_per_request * DYNAMODB_PER_MILLION_WRU;
    let dynamodb_reads = c.rru_per_request * DYNAMODB_PER_MILLION_RRU;
    let total = LAMBDA_PER_MILLION_REQUESTS
        + lambda_compute
        + HTTP_API_PER_MILLION_REQUESTS
        + dynamodb_writes
        + dynamodb_reads;
    let aws_writes = if c.write_items.is_empty() {
        dynamodb_writes
    } else {
        c.aws_rule_wru_per_request * DYNAMODB_PER_MILLION_WRU
    };
    Cost {
        total_aws_rule_wru: total - dynamodb_writes + aws_writes,
        billed_ms,
        lambda_requests: LAMBDA_PER_MILLION_REQUESTS,
        lambda_compute,
        http_api: HTTP_API_PER_MILLION_REQUESTS,
        dynamodb_writes,
        dynamodb_reads,
        total,
    }
}

#[derive(Debug, Serialize)]
pub struct Size {
    pub binary: String,
    pub path: PathBuf,
    pub bytes: Option<u64>,
    /// No symbol table in the ELF file.
    pub stripped: Option<bool>,
    /// `target/lambda/<binary>/bootstrap` (cargo-lambda, infra/build.sh), if built.
    pub lambda_bootstrap_bytes: Option<u64>,
    pub lambda_bootstrap_stripped: Option<bool>,
}

/// Whether an ELF file has a symbol table section (SHT_SYMTAB); None if not an ELF64 file.
fn has_symtab(path: &Path) -> Option<bool> {
    let data = std::fs::read(path).ok()?;
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        data.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let shoff = data
        .get(0x28..0x30)
        .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))?
        as usize;
    let shentsize = u16_at(0x3A)? as usize;
    let shnum = u16_at(0x3C)? as usize;
    Some((0..shnum).any(|i| u32_at(shoff + i * shentsize + 4) == Some(2)))
}

/// `functions`: the binaries infra/bench.sh built (its list, passed as `FV_BENCH_FUNCTIONS`).
pub fn sizes(target_dir: &Path, lambda_dir: &Path, functions: &[String]) -> Vec<Size> {
    functions
        .iter()
        .map(|b| {
            let path = target_dir.join("release").join(b);
            let lambda = lambda_dir.join(b).join("bootstrap");
            Size {
                binary: (*b).to_owned(),
                bytes: std::fs::metadata(&path).ok().map(|m| m.len()),
                stripped: has_symtab(&path).map(|s| !s),
                lambda_bootstrap_bytes: std::fs::metadata(&lambda).ok().map(|m| m.len()),
                lambda_bootstrap_stripped: has_symtab(&lambda).map(|s| !s),
                path,
            }
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub date: String,
    pub nproc: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    pub rustc: String,
    pub commit: String,
    /// /proc/loadavg when the run started: other work on the machine skews every number.
    pub load_average: String,
}

impl Machine {
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            cpuinfo
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        };
        let cpu_model = field("model name")
            .or_else(|| field("Model"))
            .or_else(|| field("CPU part").map(|p| format!("CPU part {p}")))
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Machine {
            date: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            cpu_model,
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            rustc: std::env::var("FV_BENCH_RUSTC").unwrap_or_else(|_| "unknown".into()),
            commit: std::env::var("FV_BENCH_COMMIT").unwrap_or_else(|_| "unknown".into()),
            load_average: std::fs::read_to_string("/proc/loadavg")
                .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Config {
    pub requests: usize,
    pub warmup: usize,
    pub seeded_customers: usize,
    pub throughput_seconds: f64,
    pub throughput_concurrency: Vec<usize>,
    pub cold_runs: usize,
}

#[derive(Debug, Serialize)]
pub struct Results {
    pub machine: Machine,
    pub config: Config,
    pub sign_in: SignIn,
    pub cases: Vec<CaseResult>,
    pub costs: BTreeMap<String, Cost>,
    pub parts: Parts,
    pub sizes: Vec<Size>,
    pub cold_starts: Vec<ColdStart>,
    /// STS AssumeRole calls the app made over the whole run, and the distinct
    /// (tenant, role, user) sessions it served (the onboarding operator's included).
    pub sts_calls: u64,
    pub sts_expected: u64,
    pub runtime_seconds: f64,
}

fn calls(m: &BTreeMap<String, f64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| {
            if (v - v.round()).abs() < 0.005 {
                format!("{k} {}", v.round())
            } else {
                format!("{k} {v:.2}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decimal megabytes, the stricter reading of the 10 MB target.
fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn opt_ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into())
}

fn flag(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "**over**"
    }
}

pub fn markdown(r: &Results) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let _ = writeln!(s, "# Fieldvault benchmark ({})\n", m.date);
    let _ = writeln!(
        s,
        "Machine: {} × {} ({:.1} GiB RAM, Linux {}); load average at start {}; {}; commit {}. \
         Local stack on loopback: DynamoDB Local + moto, sharing the CPUs with the benchmark \
         client and the in-process gateway. Sequential phases: {} requests per action after {} \
         warm-up; {} customers seeded.\n",
        m.nproc,
        m.cpu_model,
        m.memory_gib,
        m.kernel,
        m.load_average,
        m.rustc,
        m.commit,
        r.config.requests,
        r.config.warmup,
        r.config.seeded_customers
    );

    let _ = writeln!(s, "## Per request: DynamoDB calls, capacity, latency\n");
    let _ = writeln!(
        s,
        "| action | route | DynamoDB calls / request (SDK-counted) | RRU | WRU (AWS rules) | gateway p50 / p99 ms | bare p50 / p99 ms | ratio p50 (target ≤ {TARGET_RATIO_P50}×) | function only p50 ratio |"
    );
    let _ = writeln!(s, "|---|---|---|---:|---:|---:|---:|---:|---:|");
    for c in &r.cases {
        let _ = writeln!(
            s,
            "| {} | `{}` | {} | {:.2} | {} | {} / {} | {} / {} | {:.2}× {} | {:.2}× |",
            c.label,
            c.route,
            calls(&c.calls_per_request),
            c.rru_per_request,
            if c.write_items.is_empty() {
                format!("{:.2}", c.wru_per_request)
            } else {
                format!(
                    "{:.2} ({:.0})",
                    c.wru_per_request, c.aws_rule_wru_per_request
                )
            },
            ms(c.gateway.p50_us),
            ms(c.gateway.p99_us),
            ms(c.bare.p50_us),
            ms(c.bare.p99_us),
            c.ratio_p50,
            flag(c.ratio_p50 <= TARGET_RATIO_P50),
            c.function_ratio_p50
        );
    }
    let _ = writeln!(
        s,
        "\nratio p50: through the local gateway (loopback HTTP, the JWT authorizer's RS256 check \
         and building the event, which API Gateway does in AWS, then the function) over bare. \
         function only: parsing the event and the handler, what runs in Lambda, over bare."
    );
    let _ = writeln!(
        s,
        "\nRRU/WRU: capacity DynamoDB Local reports for the same calls issued bare \
         (ReturnConsumedCapacity=INDEXES); the product path's own metrics counted {} \
         (TransactWriteItems there does not ask for consumed capacity). \
         \"bare\" = the same DynamoDB calls (same keys and item shapes) from a plain SDK client. \
         WRU (AWS rules): 2 per started KB of each item of the transaction, +1 per started KB of \
         each gsi1 entry, from the item sizes below.\n",
        r.cases
            .iter()
            .map(|c| format!("{} {:.2}", c.case, c.counted_capacity_per_request))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let _ = writeln!(s, "Items written per request (DynamoDB size):\n");
    for c in r.cases.iter().filter(|c| !c.write_items.is_empty()) {
        let items = c
            .write_items
            .iter()
            .map(|i| {
                format!(
                    "{} {:.2} KB{}",
                    i.kind,
                    i.bytes as f64 / 1024.0,
                    if i.gsi { " (+gsi1)" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let by_target = c
            .capacity_by_target_per_request
            .iter()
            .map(|(k, v)| format!("{k} {v:.1}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            s,
            "- {}: {items}; DynamoDB Local counted: {by_target}",
            c.label
        );
    }
    let _ = writeln!(s);

    let _ = writeln!(s, "## Where the time goes (p50 ms)\n");
    let _ = writeln!(
        s,
        "| action | bare SDK | session client (STS creds + local guard) | function in-process (event parse + handler) | gateway over HTTP | Δ guard | Δ function logic | Δ gateway + HTTP |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for c in &r.cases {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            c.label,
            ms(c.bare.p50_us),
            ms(c.session.p50_us),
            ms(c.handler.p50_us),
            ms(c.gateway.p50_us),
            ms(c.session.p50_us - c.bare.p50_us),
            ms(c.handler.p50_us - c.session.p50_us),
            ms(c.gateway.p50_us - c.handler.p50_us),
        );
    }
    let p = &r.parts;
    let _ = writeln!(
        s,
        "\nGateway parts (p50): HTTP round trip over loopback answered by the gateway without a \
         handler {} ms; JWT verification (RS256) {} ms, a token already verified (signature remembered, claims checked) {} ms; building + parsing the API Gateway event \
         {} ms. Handler parts (p50): one Cedar authorization {} ms, the same decision again \
         (remembered) {} ms; shaping a 25-item list page (attribute values → Customer → JSON) {} ms.\n",
        ms(p.http_floor.p50_us),
        ms(p.jwt_verify.p50_us),
        ms(p.jwt_seen.p50_us),
        ms(p.event_round_trip.p50_us),
        ms(p.cedar_decide.p50_us),
        ms(p.cedar_seen.p50_us),
        ms(p.list_shaping.p50_us)
    );

    let _ = writeln!(
        s,
        "## Throughput through the gateway (closed loop, {} s per level)\n",
        r.config.throughput_seconds
    );
    let mut header = String::from("| action |");
    let mut rule = String::from("|---|");
    for c in &r.config.throughput_concurrency {
        let _ = write!(header, " c={c} req/s |");
        rule.push_str("---:|");
    }
    header.push_str(" p50 / p99 ms at highest c | errors |");
    rule.push_str("---:|---:|");
    let _ = writeln!(s, "{header}\n{rule}");
    for c in r.cases.iter().filter(|c| !c.throughput.is_empty()) {
        let mut row = format!("| {} |", c.label);
        for t in &c.throughput {
            let _ = write!(row, " {:.0} |", t.rps);
        }
        let last = c.throughput.last();
        let _ = write!(
            row,
            " {} / {} | {} |",
            last.map(|t| ms(t.latency.p50_us)).unwrap_or_default(),
            last.map(|t| ms(t.latency.p99_us)).unwrap_or_default(),
            c.throughput.iter().map(|t| t.errors).sum::<usize>()
        );
        let _ = writeln!(s, "{row}");
    }

    let si = &r.sign_in;
    let _ = writeln!(s, "\n## Sign-in and STS\n");
    let _ = writeln!(
        s,
        "- First request of each sign-in (`GET /me`, {} users): p50 {} ms, calls per user: {}; \
         second request: p50 {} ms, calls: {}. The sign-in record is one extra TransactWriteItems \
         (marker + audit record) of {:.2} WRU, once per sign-in per container.",
        si.users,
        ms(si.first.p50_us),
        calls(&si.first_calls_per_user),
        ms(si.second.p50_us),
        calls(&si.second_calls_per_user),
        si.sign_in_wru
    );
    let _ =
        writeln!(
        s,
        "- STS AssumeRole: {} before the first requests, {} after each user's first request, {} \
         after the second; {} over the whole run for {} distinct (tenant, role, user) sessions \
         (once per session per container, as expected: {}).\n",
        si.sts_before,
        si.sts_after_first,
        si.sts_after_second,
        r.sts_calls,
        r.sts_expected,
        if r.sts_calls == r.sts_expected { "yes" } else { "**no**" }
    );

    let _ = writeln!(s, "## Function binaries: size and cold start\n");
    let _ = writeln!(
        s,
        "| function | host release build | stripped | cargo-lambda bootstrap, as deployed (target < 10 MB) | init median ms, AWS env (target < {TARGET_COLD_START_MS:.0}) |"
    );
    let _ = writeln!(s, "|---|---:|---|---:|---:|");
    for z in &r.sizes {
        let cold = r.cold_starts.iter().find(|c| c.binary == z.binary);
        // The target is the deployed binary's; the host build stands in only without it.
        let size = z
            .bytes
            .map(|b| match z.lambda_bootstrap_bytes {
                Some(_) => mb(b),
                None => format!("{} {}", mb(b), flag(b < TARGET_SIZE_BYTES)),
            })
            .unwrap_or_else(|| "not built".into());
        let stripped = match z.stripped {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "–",
        };
        let lambda = z
            .lambda_bootstrap_bytes
            .map(|b| format!("{} {}", mb(b), flag(b < TARGET_SIZE_BYTES)))
            .unwrap_or_else(|| "not built".into());
        let aws = match cold {
            Some(c) if c.error.is_none() => format!(
                "{} {}",
                opt_ms(c.init_aws_median_ms),
                flag(
                    c.init_aws_median_ms
                        .is_some_and(|v| v < TARGET_COLD_START_MS)
                )
            ),
            Some(_) => "error".into(),
            None => "–".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            z.binary, size, stripped, lambda, aws
        );
    }
    for c in r.cold_starts.iter().filter(|c| c.error.is_some()) {
        let _ = writeln!(
            s,
            "\n- {}: {}",
            c.binary,
            c.error.as_deref().unwrap_or_default()
        );
    }
    let _ = writeln!(
        s,
        "\nInit = spawn → first `GET /runtime/invocation/next` on a local Runtime API \
         (median of {} runs each; page cache warm), with the environment of AWS (no DynamoDB \
         endpoint override), of the host release build: the deployable code (without the \
         `local` feature, so no local policy guard) built for this machine, since the arm64 \
         bootstraps cannot run here. The size target applies to the bootstraps \
         (infra/build.sh), which are what the template deploys.\n",
        r.config.cold_runs
    );

    let _ = writeln!(
        s,
        "## Cost per million requests (USD, us-east-1 on-demand, prices as of {PRICES_AS_OF})\n"
    );
    let _ = writeln!(
        s,
        "| action | billed ms (function p50, 256 MB arm64) | Lambda requests | Lambda compute | HTTP API | DynamoDB writes | DynamoDB reads | total | total, WRU by AWS rules |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for c in &r.cases {
        if let Some(k) = r.costs.get(c.case) {
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | **{:.2}** | {:.2} |",
                c.label,
                k.billed_ms,
                k.lambda_requests,
                k.lambda_compute,
                k.http_api,
                k.dynamodb_writes,
                k.dynamodb_reads,
                k.total,
                k.total_aws_rule_wru
            );
        }
    }
    let _ = writeln!(
        s,
        "\nLambda ${LAMBDA_ARM_PER_GB_SECOND}/GB-s (arm64) + ${LAMBDA_PER_MILLION_REQUESTS:.2}/M requests; \
         HTTP API ${HTTP_API_PER_MILLION_REQUESTS:.2}/M; DynamoDB ${DYNAMODB_PER_MILLION_WRU}/M WRU, \
         ${DYNAMODB_PER_MILLION_RRU}/M RRU; STS ignored (cached per session). Handler time here is \
         against DynamoDB Local on loopback; in AWS the DynamoDB round trips are longer and a \
         256 MB function gets a fraction of a vCPU, so billed ms will differ.\n"
    );

    let _ = writeln!(s, "## Off target\n");
    let mut off = Vec::new();
    for c in &r.cases {
        if c.ratio_p50 > TARGET_RATIO_P50 {
            off.push(format!(
                "{}: gateway p50 {} ms is {:.2}× bare {} ms (target ≤ {TARGET_RATIO_P50}×); \
                 the function alone {} ms, {:.2}×",
                c.label,
                ms(c.gateway.p50_us),
                c.ratio_p50,
                ms(c.bare.p50_us),
                ms(c.handler.p50_us),
                c.function_ratio_p50
            ));
        }
        if c.errors > 0 {
            off.push(format!("{}: {} unexpected statuses", c.label, c.errors));
        }
    }
    for z in &r.sizes {
        match (z.lambda_bootstrap_bytes, z.bytes) {
            (Some(b), _) if b >= TARGET_SIZE_BYTES => off.push(format!(
                "{}: bootstrap {} (target < 10 MB)",
                z.binary,
                mb(b)
            )),
            (None, Some(b)) if b >= TARGET_SIZE_BYTES => off.push(format!(
                "{}: host build {} (target < 10 MB; the deployed bootstrap was not built: \
                 infra/build.sh)",
                z.binary,
                mb(b)
            )),
            (_, None) => off.push(format!("{}: not built", z.binary)),
            _ => {}
        }
    }
    for c in &r.cold_starts {
        match (&c.error, c.init_aws_median_ms) {
            (Some(e), _) => off.push(format!("{}: cold start failed: {e}", c.binary)),
            (None, Some(v)) if v >= TARGET_COLD_START_MS => off.push(format!(
                "{}: cold start {v:.1} ms (target < {TARGET_COLD_START_MS:.0} ms)",
                c.binary
            )),
            _ => {}
        }
    }
    if r.sts_calls != r.sts_expected {
        off.push(format!(
            "STS: {} AssumeRole calls for {} sessions",
            r.sts_calls, r.sts_expected
        ));
    }
    if off.is_empty() {
        let _ = writeln!(s, "Nothing.");
    }
    for o in off {
        let _ = writeln!(s, "- {o}");
    }
    let _ = writeln!(s, "\n(Run took {:.0} s.)", r.runtime_seconds);
    s
}
