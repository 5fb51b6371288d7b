//! Relayer throughput and latency through the relayer library's public API (relayer/src is
//! not touched):
//!
//! 1. reports verified per second in process: the intake's own steps (`pipeline::parse`,
//!    `check_domain`, `check_signer`, `check_evidence` with the devnet policy) for `none`
//!    evidence; the same signature steps plus `verify_tdx` / `verify_snp` against the shipped
//!    Intel TDX quote and AMD SEV-SNP Milan report with a policy that accepts them;
//! 2. reports accepted per second over HTTP: the relayer's axum router served in process
//!    with the SQLite queue in a file (WAL, synchronous=FULL: every 202 is committed), many
//!    concurrent clients POSTing distinct signed reports;
//! 3. report-to-settlement latency: simulated provider nodes (each a registered provider on
//!    the devnet with accepted jobs) post final reports at a steady rate to a relayer that
//!    looks providers up in the registry and settles with `settlement::run` on the devnet.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy::{
    primitives::{keccak256, Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use eyre::{bail, eyre, Context, Result};
use market_protocol::{
    evidence::{evidence_digest_of, snp_report_data},
    Evidence, EvidenceKind, MarketDomain, SignedReport, UsageReport,
};
use relayer::{
    chain::AlloyChain,
    directory::{ProviderRecord, RegistryDirectory, StaticDirectory},
    evidence::{
        snp::{verify_snp, AmdProduct, SnpPolicy, SnpTcb},
        tdx::{verify_tdx, TdxMeasurement, TdxPolicy},
        ClassPolicy, CollateralSource, Hex48, OfflineCollateral,
    },
    metrics::Metrics,
    pipeline::{check_domain, check_evidence, check_signer, parse, Intake},
    queue::{ReportQueue, ReportState, SqliteQueue},
    settlement::{self, BatchPolicy},
};

use crate::cpu::{against_floor, cores, quantile};
use crate::send;
use crate::system::{final_report, open_and_accept, IComputeToken, Job, Provider1, System};

const TDX_QUOTE: &[u8] = include_bytes!("../../relayer/tests/data/tdx_quote.bin");
const TDX_COLLATERAL: &[u8] = include_bytes!("../../relayer/tests/data/tdx_quote_collateral.json");
const SNP_REPORT_HEX: &str = include_str!("../../relayer/tests/data/snp_report_milan.hex");
const SNP_VCEK: &[u8] = include_bytes!("../../relayer/tests/data/snp_vcek_milan.der");
/// Launch measurement of the shipped SNP sample (as relayer/tests/evidence_samples.rs pins it).
const SNP_MEASUREMENT: &str =
    "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";
/// Inside the sample TDX collateral's validity window (the shipped collateral has expired).
const PINNED_NOW: u64 = 1_750_400_000;
const CLASS: &str = "H100-SXM5-80GB";

/// Targets of issue #11 (on 2 cores).
const TARGET_VERIFY: f64 = 10_000.0;
const TARGET_TDX: f64 = 500.0;
const TARGET_HTTP: f64 = 2_000.0;

/// The relayer's own defaults (relayer/src/config.rs: max_batch 32, max_wait_secs 5).
const DEFAULT_MAX_BATCH: usize = 32;
const DEFAULT_MAX_WAIT_SECS: u64 = 5;

pub struct Options {
    pub wasm_dir: Option<PathBuf>,
    pub secs: f64,
    pub clients: usize,
    pub nodes: usize,
    pub rate: f64,
    pub load_secs: f64,
    pub skip_latency: bool,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The devnet's policy: the simulated meter's `none` evidence accepted.
pub fn devnet_policy() -> ClassPolicy {
    ClassPolicy { required: vec![], allow_none: true, tdx: None, sev_snp: None, nvidia_cc: None }
}

/// A fixed provider (key 0x01..01) of `CLASS` whose every report carries `none` evidence.
struct Fixture {
    domain: MarketDomain,
    signer: PrivateKeySigner,
    record: ProviderRecord,
    policies: HashMap<B256, ClassPolicy>,
}

impl Fixture {
    fn new() -> Result<Fixture> {
        let domain = MarketDomain::new(412346, Address::repeat_byte(0x11));
        let signer = PrivateKeySigner::from_bytes(&B256::repeat_byte(1))?;
        let me = signer.address();
        let class_id = keccak256(CLASS);
        let digest = evidence_digest_of(&[Evidence::none()], me).map_err(|e| eyre!("{e}"))?;
        let record = ProviderRecord { class_id, job_provider: me, signing_key: me, evidence_digest: digest };
        let policies = HashMap::from([(class_id, devnet_policy())]);
        Ok(Fixture { domain, signer, record, policies })
    }

    fn report(&self, i: u64) -> UsageReport {
        UsageReport {
            jobId: U256::from(i),
            provider: self.signer.address(),
            gpuUuidHash: keccak256("GPU-SIMULATED-0000"),
            startTs: 1_000,
            endTs: 1_600,
            gpuSeconds: 600,
            energyMilliJoules: 420_000_000,
            avgUtilBps: 9_000,
            evidenceDigest: self.record.evidence_digest,
            nonce: U256::from(i),
        }
    }

    /// The wire JSON a node posts for report `i` with `evidence`.
    fn body(&self, i: u64, evidence: Vec<Evidence>) -> Result<Vec<u8>> {
        let report = self.report(i);
        let signature = report.sign(&self.domain, &self.signer)?;
        Ok(SignedReport { domain: self.domain, report, signature, evidence }.to_json())
    }

    /// `n` distinct bodies with `none` evidence, signed on every core.
    fn bodies(&self, n: usize) -> Result<Vec<Vec<u8>>> {
        let threads = cores();
        let chunks: Vec<Result<Vec<Vec<u8>>>> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..threads)
                .map(|t| {
                    sc.spawn(move || {
                        (t..n)
                            .step_by(threads)
                            .map(|i| self.body(i as u64, vec![Evidence::none()]))
                            .collect::<Result<Vec<_>>>()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("signing thread")).collect()
        });
        let mut out = Vec::with_capacity(n);
        for c in chunks {
            out.extend(c?);
        }
        Ok(out)
    }
}

/// Runs `f` on `threads` threads for `secs` seconds; returns operations per second.
fn rate(threads: usize, secs: f64, f: &(dyn Fn(usize) + Sync)) -> f64 {
    let done = AtomicU64::new(0);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    std::thread::scope(|sc| {
        for t in 0..threads {
            let done = &done;
            sc.spawn(move || {
                let mut i = t;
                let mut n = 0;
                while Instant::now() < deadline {
                    f(i);
                    i += threads;
                    n += 1;
                }
                done.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

struct VerifyRow {
    path: &'static str,
    one: f64,
    all: f64,
    target: Option<f64>,
    note: &'static str,
}

fn verify_in_process(secs: f64) -> Result<Vec<VerifyRow>> {
    let fx = Fixture::new()?;
    let collateral_none = OfflineCollateral::default();
    let none_bodies: Vec<Vec<u8>> =
        (0..64).map(|i| fx.body(i, vec![Evidence::none()])).collect::<Result<_>>()?;
    let full_pipeline = |i: usize| {
        let r = parse(&none_bodies[i % none_bodies.len()]).expect("parses");
        check_domain(&r, &fx.domain).expect("domain");
        let rec = check_signer(&r, Some(fx.record)).expect("signer");
        check_evidence(&r, &rec, &fx.policies, &collateral_none, 1_000_000).expect("evidence");
    };
    full_pipeline(0);
    // Where the time goes: the EIP-712 recovery alone, and the JSON parse alone.
    let recover_only = |i: usize| {
        let r = parse(&none_bodies[i % none_bodies.len()]).expect("parses");
        std::hint::black_box(relayer::recover::report_signer(&r).expect("recovers"));
    };
    let parse_only = |i: usize| {
        std::hint::black_box(parse(&none_bodies[i % none_bodies.len()]).expect("parses"));
    };

    // TDX: the shipped quote commits to its own report_data, not to our report's hash, so
    // the quote is verified against that (everything else exactly as the intake does).
    let collateral: dcap_qvl::QuoteCollateralV3 = serde_json::from_slice(TDX_COLLATERAL)?;
    // The relayer's offline collateral source, as `verify_evidence` consults it.
    let offline = OfflineCollateral { tdx: vec![collateral.clone()], snp_vceks: vec![SNP_VCEK.to_vec()] };
    let quote = dcap_qvl::quote::Quote::parse(TDX_QUOTE).map_err(|e| eyre!("sample quote: {e:?}"))?;
    let td = quote.report.as_td10().ok_or_else(|| eyre!("sample quote is not TDX 1.0"))?;
    let tdx_policy = TdxPolicy {
        allowed_tcb_statuses: vec!["UpToDate".into()],
        allowed_measurements: vec![TdxMeasurement { mrtd: Hex48(td.mr_td), rtmr: [None; 4] }],
        allow_debug: false,
    };
    let tdx_rd = td.report_data;
    let tdx_bodies: Vec<Vec<u8>> = (0..16)
        .map(|i| {
            fx.body(i, vec![Evidence { kind: EvidenceKind::Tdx, data: TDX_QUOTE.to_vec(), cert_chain: None }])
        })
        .collect::<Result<_>>()?;
    let tdx = |i: usize| {
        let r = parse(&tdx_bodies[i % tdx_bodies.len()]).expect("parses");
        check_domain(&r, &fx.domain).expect("domain");
        check_signer(&r, Some(fx.record)).expect("signer");
        let ev = &r.evidence[0];
        let c = offline.tdx_collateral(&ev.data, PINNED_NOW).expect("collateral");
        verify_tdx(&tdx_policy, &ev.data, &c[0], &tdx_rd, PINNED_NOW).expect("TDX verifies");
    };
    tdx(0);

    let snp_report = hex::decode(SNP_REPORT_HEX.trim())?;
    let snp_rd = snp_report_data(&snp_report).map_err(|e| eyre!("{e}"))?;
    let snp_policy = SnpPolicy {
        products: vec![AmdProduct::Milan],
        allowed_measurements: vec![SNP_MEASUREMENT.parse().map_err(|e| eyre!("measurement: {e:?}"))?],
        min_tcb: SnpTcb { bootloader: 3, tee: 0, snp: 8, microcode: 115 },
        allow_debug: false,
        allow_migration_agent: false,
        allow_smt: true,
        max_vmpl: 0,
    };
    let snp_bodies: Vec<Vec<u8>> = (0..16)
        .map(|i| {
            fx.body(
                i,
                vec![Evidence { kind: EvidenceKind::SevSnp, data: snp_report.clone(), cert_chain: None }],
            )
        })
        .collect::<Result<_>>()?;
    let snp = |i: usize| {
        let r = parse(&snp_bodies[i % snp_bodies.len()]).expect("parses");
        check_domain(&r, &fx.domain).expect("domain");
        check_signer(&r, Some(fx.record)).expect("signer");
        let ev = &r.evidence[0];
        let vceks = offline.snp_vceks(&ev.data, PINNED_NOW).expect("VCEK");
        verify_snp(&snp_policy, &ev.data, &vceks[0], &snp_rd).expect("SNP verifies");
    };
    snp(0);

    let n = cores();
    let mut rows = Vec::new();
    for (path, f, target, note) in [
        (
            "signature + policy (`none` evidence, the intake's parse/domain/signer/evidence steps)",
            &full_pipeline as &(dyn Fn(usize) + Sync),
            Some(TARGET_VERIFY),
            "",
        ),
        (
            "of which: parse + EIP-712 signer recovery only",
            &recover_only as &(dyn Fn(usize) + Sync),
            None,
            "libsecp256k1 public-key recovery, as the intake does",
        ),
        ("of which: parse only (wire JSON, strict)", &parse_only as &(dyn Fn(usize) + Sync), None, ""),
        (
            "signature + Intel TDX quote (dcap-qvl + policy)",
            &tdx as &(dyn Fn(usize) + Sync),
            Some(TARGET_TDX),
            "shipped sample quote and collateral, time pinned",
        ),
        (
            "signature + AMD SEV-SNP report (sev, ARK->ASK->VCEK + policy)",
            &snp as &(dyn Fn(usize) + Sync),
            None,
            "shipped Milan sample, VCEK from the offline collateral",
        ),
    ] {
        let one = rate(1, secs, f);
        let all = rate(n, secs, f);
        rows.push(VerifyRow { path, one, all, target, note });
    }
    Ok(rows)
}

/// Serves the relayer's router on a free local port; returns its base URL.
async fn serve(intake: Arc<Intake>) -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, relayer::api::router(intake)).await;
    });
    Ok(format!("http://{addr}"))
}

struct HttpResult {
    accepted: u64,
    other: u64,
    secs: f64,
    bodies: usize,
    exhausted: bool,
    journal: String,
}

async fn http_throughput(secs: f64, clients: usize) -> Result<HttpResult> {
    let fx = Fixture::new()?;
    let dir = tempfile::tempdir()?;
    let queue = Arc::new(SqliteQueue::open(&dir.path().join("queue.sqlite")).map_err(|e| eyre!("{e}"))?);
    let journal = queue.journal_mode().map_err(|e| eyre!("{e}"))?;
    let intake = Arc::new(Intake {
        domain: fx.domain,
        policies: fx.policies.clone(),
        collateral: Arc::new(OfflineCollateral::default()),
        directory: Arc::new(StaticDirectory { providers: HashMap::from([(fx.signer.address(), fx.record)]) }),
        queue: queue.clone(),
        metrics: Arc::new(Metrics::default()),
        clock: Arc::new(unix_now),
    });
    let base = serve(intake).await?;
    // Enough distinct reports for 3x the target over the window.
    let n = ((TARGET_HTTP * 3.0 * secs) as usize).max(1_000);
    let bodies = {
        let fx = Fixture::new()?;
        tokio::task::spawn_blocking(move || fx.bodies(n)).await??
    };
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(bodies);
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    let url = format!("{base}/v1/reports");
    // Warm-up: one request, then the clock.
    let r =
        client.post(&url).header("content-type", "application/json").body(bodies[0].clone()).send().await?;
    if r.status().as_u16() != 202 {
        bail!("warm-up POST: {} {}", r.status(), r.text().await.unwrap_or_default());
    }
    let next = Arc::new(AtomicUsize::new(1));
    let accepted = Arc::new(AtomicU64::new(0));
    let other = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, bodies, next, accepted, other) =
            (client.clone(), url.clone(), bodies.clone(), next.clone(), accepted.clone(), other.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                match client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(r) if r.status().as_u16() == 202 => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        other.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let secs = start.elapsed().as_secs_f64();
    let exhausted = next.load(Ordering::Relaxed) >= bodies.len();
    // Every 202 is in the queue.
    let stored: u64 = queue
        .counts()
        .map_err(|e| eyre!("{e}"))?
        .iter()
        .filter(|(s, _)| s == "verified")
        .map(|(_, n)| *n)
        .sum();
    let accepted = accepted.load(Ordering::Relaxed);
    if stored != accepted + 1 {
        bail!("{accepted} + 1 accepted but {stored} stored as verified");
    }
    Ok(HttpResult { accepted, other: other.load(Ordering::Relaxed), secs, bodies: n, exhausted, journal })
}

struct Latency {
    posted: usize,
    settled: usize,
    latencies: Vec<f64>,
    load_rate: f64,
    txs: u64,
}

async fn latency(opts: &Options) -> Result<Latency> {
    let s = System::start(opts.wasm_dir.clone()).await?;
    let seeded = s.seed().await?;
    let (buyer, _) = s.role(2)?;
    let jobs_per_node = (opts.rate * opts.load_secs).ceil() as usize;
    let job_seconds = 100u64;
    let used = 60u64;
    let mut providers = vec![Provider1::seeded(&s, &seeded)?];
    // The seeded provider hands part of its seconds to the buyer; others mint their own.
    let token_p = IComputeToken::new(seeded.token, providers[0].p.clone());
    send!(
        token_p.transfer(seeded.buyer, U256::from(jobs_per_node as u64 * job_seconds)),
        "seconds to buyer"
    )?;
    // Dev accounts anvil 5.. are the extra nodes' providers (1 provider, 2 buyer, 3 relayer, 4 anyone).
    for i in 1..opts.nodes {
        let idx = 4 + i;
        if idx >= devnet::accounts::ANVIL_KEYS.len() {
            bail!("at most {} nodes", devnet::accounts::ANVIL_KEYS.len() - 4);
        }
        providers
            .push(s.extra_provider(&seeded, idx, jobs_per_node as u64 * job_seconds, seeded.buyer).await?);
    }
    let token_b = IComputeToken::new(seeded.token, buyer.clone());
    send!(token_b.approve(s.at("market")?, U256::MAX), "buyer approves the market")?;
    let mut jobs: Vec<Vec<Job>> = Vec::new();
    for (n, p) in providers.iter().enumerate() {
        let mut v = Vec::new();
        for k in 0..jobs_per_node {
            let spec = keccak256(format!("latency-{n}-{k}"));
            v.push(open_and_accept(&s, seeded.class_id, &buyer, p, job_seconds, spec).await?.0);
        }
        jobs.push(v);
    }
    s.advance(used + 10).await?;

    // The relayer, wired as relayer/src/main.rs wires it, in process.
    let dir = tempfile::tempdir()?;
    let queue = Arc::new(SqliteQueue::open(&dir.path().join("queue.sqlite")).map_err(|e| eyre!("{e}"))?);
    let rpc = deployer::network::read_provider(&s.url)?;
    let directory =
        RegistryDirectory::new(rpc.clone(), s.at("market")?, s.at("registry")?, Duration::from_secs(30));
    let metrics = Arc::new(Metrics::default());
    let clock: Arc<dyn Fn() -> u64 + Send + Sync> = Arc::new(unix_now);
    let intake = Arc::new(Intake {
        domain: s.domain()?,
        policies: HashMap::from([(seeded.class_id, devnet_policy())]),
        collateral: Arc::new(OfflineCollateral::default()),
        directory: Arc::new(directory),
        queue: queue.clone(),
        metrics: metrics.clone(),
        clock: clock.clone(),
    });
    let relayer_key = crate::system::key(devnet::accounts::ANVIL_KEYS[3]);
    let chain = AlloyChain::new(rpc.clone(), relayer_key, s.at("settlement")?, s.chain_id, 1);
    let policy = BatchPolicy {
        max_batch: DEFAULT_MAX_BATCH,
        max_wait_secs: DEFAULT_MAX_WAIT_SECS,
        replace_after_secs: 0,
    };
    // The sender must live as long as the loop (a dropped sender stops it).
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let settler = tokio::spawn(settlement::run(
        queue.clone(),
        Arc::new(chain),
        policy,
        clock,
        metrics.clone(),
        stop_rx,
        Duration::from_secs(5),
    ));
    let base = serve(intake).await?;
    let url = format!("{base}/v1/reports");

    // The nodes: each posts its jobs' final reports at `rate` per second.
    let domain = s.domain()?;
    let posted: Arc<Mutex<Vec<(B256, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let client = reqwest::Client::new();
    let start = Instant::now();
    let mut nodes = Vec::new();
    for (p, js) in providers.iter().cloned().zip(jobs) {
        let (client, url, posted) = (client.clone(), url.clone(), posted.clone());
        let period = Duration::from_secs_f64(1.0 / opts.rate);
        nodes.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now(), period);
            for (k, job) in js.into_iter().enumerate() {
                tick.tick().await;
                let report = final_report(&p, job, used, k as u64);
                let signature = report.sign(&domain, &p.key)?;
                let signed = SignedReport { domain, report, signature, evidence: vec![Evidence::none()] };
                let id = signed.id().0;
                let t = Instant::now();
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(signed.to_json())
                    .send()
                    .await?;
                if r.status().as_u16() != 202 {
                    bail!("node {}: {} {}", p.address, r.status(), r.text().await.unwrap_or_default());
                }
                posted.lock().expect("lock").push((id, t));
            }
            Ok::<_, eyre::Report>(())
        }));
    }
    // Watch the queue until every posted report is settled (or a minute after the load).
    let mut settled_at: HashMap<B256, f64> = HashMap::new();
    let total = providers.len() * jobs_per_node;
    let mut load_done: Option<Instant> = None;
    let mut load_secs = 0.0;
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let pending: Vec<(B256, Instant)> = posted
            .lock()
            .expect("lock")
            .iter()
            .filter(|(id, _)| !settled_at.contains_key(id))
            .copied()
            .collect();
        for (id, t) in pending {
            let stored = queue.get(&market_protocol::ReportId(id)).map_err(|e| eyre!("{e}"))?;
            match stored.map(|s| s.state) {
                Some(ReportState::Settled { .. }) => {
                    settled_at.insert(id, t.elapsed().as_secs_f64());
                }
                Some(ReportState::Rejected { code, message }) => bail!("report rejected: {code}: {message}"),
                Some(ReportState::Skipped { .. }) => bail!("report skipped on chain"),
                _ => {}
            }
        }
        if load_done.is_none() && nodes.iter().all(|n| n.is_finished()) {
            load_done = Some(Instant::now());
            load_secs = start.elapsed().as_secs_f64();
            for n in nodes.drain(..) {
                n.await??;
            }
        }
        if settled_at.len() == total {
            break;
        }
        if load_done.is_some_and(|t| t.elapsed() > Duration::from_secs(60)) {
            break;
        }
    }
    let _ = stop_tx.send(true);
    settler.abort();
    let mut latencies: Vec<f64> = settled_at.values().copied().collect();
    latencies.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let posted = posted.lock().expect("lock").len();
    let txs = metrics.reports_settled.load(Ordering::Relaxed);
    Ok(Latency {
        posted,
        settled: latencies.len(),
        latencies,
        load_rate: posted as f64 / load_secs.max(1e-9),
        txs,
    })
}

pub async fn run(opts: Options) -> Result<()> {
    let n = cores();
    println!("## Relayer throughput (profile: {}, {n} cores)\n", crate::profile());
    let rows = {
        let secs = opts.secs;
        tokio::task::spawn_blocking(move || verify_in_process(secs)).await??
    };
    println!("### Reports verified per second, in process\n");
    println!("| path | 1 thread (/s) | {n} threads (/s) | target ({n} cores) | |");
    println!("|---|---:|---:|---:|---|");
    for r in &rows {
        let t = r.target.map(|t| format!(">= {t:.0}/s")).unwrap_or_else(|| "-".into());
        let verdict = r.target.map(|t| against_floor(r.all, t)).unwrap_or_default();
        let note = if r.note.is_empty() {
            verdict
        } else if verdict.is_empty() {
            r.note.into()
        } else {
            format!("{verdict}; {}", r.note)
        };
        println!("| {} | {:.0} | {:.0} | {t} | {note} |", r.path, r.one, r.all);
    }
    println!(
        "\nThe TDX and SNP samples commit to their own report_data, not to a report's hash, so they are verified \
         against it; in the intake the expected report_data is `report_data_for(report id)`. {:.0} s per cell.\n",
        opts.secs
    );

    let h = http_throughput(opts.secs, opts.clients).await?;
    let per_s = h.accepted as f64 / h.secs;
    println!("### Reports accepted over HTTP with a durable commit\n");
    println!("| clients | 202s | other answers | seconds | accepted/s | target | |");
    println!("|---:|---:|---:|---:|---:|---:|---|");
    println!(
        "| {} | {} | {} | {:.2} | {per_s:.0} | >= {TARGET_HTTP:.0}/s | {} |",
        opts.clients,
        h.accepted,
        h.other,
        h.secs,
        against_floor(per_s, TARGET_HTTP)
    );
    println!(
        "\nThe relayer's axum router (`relayer::api::router`) and intake in this process, SQLite queue in a file \
         (journal {}, synchronous=FULL: each 202 follows the committed insert and the committed verification), \
         `none` evidence with the devnet policy, a static provider directory; the {} clients (reqwest, keep-alive) \
         run in the same process on the same cores. Distinct pre-signed reports{}.\n",
        h.journal,
        opts.clients,
        if h.exhausted { format!(" (all {} used before the window ended)", h.bodies) } else { String::new() }
    );

    if opts.skip_latency {
        return Ok(());
    }
    let l = latency(&opts).await?;
    println!("### Report-to-settlement latency on the devnet\n");
    println!("| nodes | load (reports/s) | posted | settled | p50 (s) | p99 (s) | max (s) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let f = |q: f64| quantile(&l.latencies, q).map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
    println!(
        "| {} | {:.1} | {} | {} | {} | {} | {} |",
        opts.nodes,
        l.load_rate,
        l.posted,
        l.settled,
        f(0.5),
        f(0.99),
        f(1.0)
    );
    println!(
        "\nEach node is a registered provider with its own accepted jobs and posts one final report per job, signed \
         when it is sent, every {:.2} s; the relayer (in process: registry lookups over JSON-RPC, SQLite queue, \
         `settlement::run` with the relayer's defaults max_batch {DEFAULT_MAX_BATCH}, max_wait_secs \
         {DEFAULT_MAX_WAIT_SECS}, 1 confirmation) settles on the in-process devnet (a block per transaction). \
         Latency: from the POST to the queue's `settled` state, polled every 20 ms ({} reports settled in total). \
         The settlement loop steps once a second, so latency is mostly batching wait plus one to two loop periods.",
        1.0 / opts.rate,
        l.txs
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_reports_pass_the_intake_steps() {
        let fx = Fixture::new().unwrap();
        let bodies = fx.bodies(4).unwrap();
        let mut ids = std::collections::HashSet::new();
        for b in &bodies {
            let r = parse(b).unwrap();
            check_domain(&r, &fx.domain).unwrap();
            let rec = check_signer(&r, Some(fx.record)).unwrap();
            check_evidence(&r, &rec, &fx.policies, &OfflineCollateral::default(), 1_000_000).unwrap();
            ids.insert(r.id());
        }
        assert_eq!(ids.len(), 4, "distinct reports");
    }

    #[test]
    fn shipped_samples_verify_under_the_bench_policies() {
        let collateral: dcap_qvl::QuoteCollateralV3 = serde_json::from_slice(TDX_COLLATERAL).unwrap();
        let quote = dcap_qvl::quote::Quote::parse(TDX_QUOTE).unwrap();
        let td = quote.report.as_td10().unwrap();
        let policy = TdxPolicy {
            allowed_tcb_statuses: vec!["UpToDate".into()],
            allowed_measurements: vec![TdxMeasurement { mrtd: Hex48(td.mr_td), rtmr: [None; 4] }],
            allow_debug: false,
        };
        verify_tdx(&policy, TDX_QUOTE, &collateral, &td.report_data, PINNED_NOW).unwrap();
        let snp = hex::decode(SNP_REPORT_HEX.trim()).unwrap();
        let rd = snp_report_data(&snp).unwrap();
        let policy = SnpPolicy {
            products: vec![AmdProduct::Milan],
            allowed_measurements: vec![SNP_MEASUREMENT.parse().unwrap()],
            min_tcb: SnpTcb { bootloader: 3, tee: 0, snp: 8, microcode: 115 },
            allow_debug: false,
            allow_migration_agent: false,
            allow_smt: true,
            max_vmpl: 0,
        };
        verify_snp(&policy, &snp, SNP_VCEK, &rd).unwrap();
    }
}
