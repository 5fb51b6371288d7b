//! The provider node and the relayer as the user runs them (both real binaries, as child
//! processes) with the real contracts on the devnet:
//! - the happy path through the node's real NVML code against the fake `libnvidia-ml`:
//!   swap, open job, the node accepts, runs, meters through NVML, attaches NVIDIA CC evidence
//!   that the relayer verifies against the fake GPU's pinned CA, and the relayer settles;
//! - the node killed (`kill -9`) mid-job: after the restart the job's orphaned process is
//!   killed, the job is never run again, and its final report (the metered part, from the
//!   samples the node persisted) is delivered and settles exactly once; a job whose report
//!   was spooled but not yet delivered is delivered after the restart and settles exactly
//!   once.

use std::time::Duration;

use alloy::{
    primitives::{keccak256, U256},
    providers::Provider,
    sol_types::SolCall,
};
use devnet::accounts::ANVIL_KEYS;
use e2e::{
    key, ok, report,
    services::{fake_nvml, poll, settled_events, Meter, Node, Relayer},
    IComputeToken, IMarket, IMockErc20, IRegistry, ISettlement, IVault, Role, System,
};
use market_protocol::{evidence::pem_chain_to_der, evidence_digest, EvidenceIdentity, EvidenceKind};

const ACCEPTED: u8 = 2;
const SETTLED: u8 = 3;
/// The fake library's GPU 0 (the one with confidential computing).
const FAKE_GPU0: &str = "GPU-fa4e0000-0000-4000-8000-000000000000";
const LEAF_PEM: &str = include_str!("../fixtures/fake-gpu-cc/leaf.pem");

fn collateral_per_second(s: &System) -> U256 {
    s.config.classes.iter().find(|c| c.name == "H100-SXM5-80GB").unwrap().collateral_per_second
}

/// Registers anvil 5 as an H100 provider whose node meters through NVML: stake, the fake
/// GPU 0's UUID, the evidence digest of its (test-CA) device certificate, minted seconds.
async fn register_nvml_provider(s: &System, minted: u64) -> (Role, alloy::primitives::B256) {
    let p = Role::new(&s.devnet.url(), key(ANVIL_KEYS[5]));
    let stake = U256::from(200u64) * U256::from(10u64).pow(U256::from(18));
    let lrt = IMockErc20::new(s.at("collateral"), p.p.clone());
    ok(lrt.mint(p.address, stake).send().await.unwrap().get_receipt().await.unwrap());
    ok(lrt.approve(s.at("vault"), stake).send().await.unwrap().get_receipt().await.unwrap());
    let vault = IVault::new(s.at("vault"), p.p.clone());
    ok(vault.deposit(stake, p.address).send().await.unwrap().get_receipt().await.unwrap());
    let leaf = pem_chain_to_der(LEAF_PEM).unwrap().remove(0);
    let digest = evidence_digest(&[EvidenceIdentity::from_nvidia_leaf_cert(&leaf)]).unwrap();
    let registry = IRegistry::new(s.at("registry"), p.p.clone());
    let call = registry.registerProvider(s.seeded.class_id, p.address, digest, vec![keccak256(FAKE_GPU0)]);
    ok(call.send().await.unwrap().get_receipt().await.unwrap());
    let market = IMarket::new(s.at("market"), p.p.clone());
    ok(market.mint(s.seeded.class_id, U256::from(minted)).send().await.unwrap().get_receipt().await.unwrap());
    (p, digest)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_metered_through_nvml_on_the_fake_gpu_settles_with_verified_cc_evidence() {
    let s = System::start().await;
    let dir = tempfile::tempdir().unwrap();
    let relayer = Relayer::start(&s, dir.path()).await;
    let (provider, digest) = register_nvml_provider(&s, 5_000).await;
    let mut node = Node::configure(
        &s,
        &dir.path().join("node"),
        ANVIL_KEYS[5],
        &relayer.url(),
        Meter::Nvml { lib: fake_nvml(dir.path()), attester: env!("CARGO_BIN_EXE_fake-gpu-attester").into() },
    );
    node.start();

    // The buyer swaps USDC for H100 seconds and opens a 600-second job for this provider.
    let bought = s.buy_seconds(U256::from(1_000_000)).await;
    let escrow = U256::from(600);
    assert!(bought > escrow, "{bought}");
    let spec = relayer
        .put_spec(
            br#"{"version": 1, "command": "sh", "args": ["-c", "sleep 2"], "gpus": 1, "time_limit_s": 60}"#,
        )
        .await;
    let market = IMarket::new(s.at("market"), s.anyone.p.clone());
    let vault = IVault::new(s.at("vault"), s.anyone.p.clone());
    let token = IComputeToken::new(s.seeded.token, s.anyone.p.clone());
    let (minted_before, _) =
        market.obligations(s.seeded.class_id, provider.address).call().await.unwrap().into();
    let supply_before = token.totalSupply().call().await.unwrap();
    let job = s.open_job_for(provider.address, escrow, spec).await;
    let locked_before = vault.operatorStake(provider.address).call().await.unwrap()._2;

    let events = poll("the job's report settled", Duration::from_secs(90), || async {
        let refused = node.spooled("rejected");
        assert!(refused.is_empty(), "the relayer refused the node's report: {:?}", node.rejection_reasons());
        let e = settled_events(&s, job).await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(events.len(), 1);
    let settled = events[0].log_decode::<ISettlement::ReportSettled>().unwrap().inner.data;

    // What was settled, decoded from the relayer's settleBatch transaction.
    let tx: serde_json::Value = s
        .anyone
        .p
        .raw_request("eth_getTransactionByHash".into(), (events[0].transaction_hash.unwrap(),))
        .await
        .unwrap();
    let input = alloy::primitives::hex::decode(tx["input"].as_str().unwrap()).unwrap();
    let call = ISettlement::settleBatchCall::abi_decode(&input).unwrap();
    let r = call.reports.iter().find(|r| r.jobId == job).expect("the job's report in the batch");
    assert_eq!(r.provider, provider.address);
    assert_eq!(r.gpuUuidHash, keccak256(FAKE_GPU0), "the GPU UUID NVML reported");
    assert_ne!(r.gpuUuidHash, s.seeded.gpu_uuid_hash, "not the simulated meter's GPU");
    assert_eq!(r.avgUtilBps, 9_000, "the fake GPU 0 reads 90 % utilisation");
    assert!(
        r.energyMilliJoules >= 1_000 && r.energyMilliJoules % 1_000 == 0,
        "energy from the fake counter (+1000 mJ a read): {}",
        r.energyMilliJoules
    );
    assert!((1..=5).contains(&r.gpuSeconds), "a 2 s job on one GPU: {}", r.gpuSeconds);
    assert!(r.gpuSeconds <= r.endTs - r.startTs, "{r:?}");
    assert_eq!(r.evidenceDigest, digest, "the fake GPU's device certificate");
    assert!(r.nonce.bit(255), "the job's one report is its final one");

    // On chain: used seconds burned, the rest back to the buyer, obligations and locked
    // stake down by exactly the burned seconds.
    let burned = U256::from(r.gpuSeconds);
    assert_eq!(settled.gpuSecondsBurned, r.gpuSeconds);
    assert_eq!(U256::from(settled.secondsRefunded), escrow - burned);
    assert_eq!(
        token.balanceOf(s.buyer.address).call().await.unwrap(),
        bought - burned,
        "unused seconds back"
    );
    assert_eq!(supply_before - token.totalSupply().call().await.unwrap(), burned, "used seconds burned");
    let (minted_after, _) =
        market.obligations(s.seeded.class_id, provider.address).call().await.unwrap().into();
    assert_eq!(minted_before - minted_after, burned, "obligations drop by the burned seconds");
    let locked_after = vault.operatorStake(provider.address).call().await.unwrap()._2;
    assert_eq!(
        locked_before - locked_after,
        burned * collateral_per_second(&s),
        "the matching stake unlocked"
    );
    assert_eq!(market.job(job).call().await.unwrap()._8, SETTLED);
    let record =
        ISettlement::new(s.at("settlement"), s.anyone.p.clone()).jobRecord(job).call().await.unwrap();
    assert_eq!(record._0, digest, "provenance: the CC evidence digest");

    // The node's copy: NVIDIA CC evidence from the fake GPU (the test CA's chain), acknowledged.
    let sent = poll("the report acknowledged", Duration::from_secs(10), || async {
        let sent = node.spooled("sent");
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent.len(), 1);
    let ev = &sent[0].evidence;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, EvidenceKind::NvidiaCc);
    assert_eq!(ev[0].cert_chain.as_ref().unwrap()[0], pem_chain_to_der(LEAF_PEM).unwrap()[0]);
    relayer.wait_for(sent[0].id(), "settled", Duration::from_secs(10)).await;
    report("happy path on the fake NVML", &s);
}

/// Job A's process appends its pid to this file each time it starts, so the test can count
/// the runs and end a process that outlived the killed node.
struct Runs(std::path::PathBuf);

impl Runs {
    fn pids(&self) -> Vec<String> {
        std::fs::read_to_string(&self.0).unwrap_or_default().lines().map(str::to_string).collect()
    }
}

impl Drop for Runs {
    fn drop(&mut self) {
        for pid in self.pids().iter().filter(|p| alive(p)) {
            let _ = std::process::Command::new("kill").args(["-9", pid]).status();
        }
    }
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().next().map(str::to_string)))
        .is_some_and(|st| st != "Z" && st != "X")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_node_killed_mid_job_reports_it_once_after_restart_and_a_spooled_report_settles_exactly_once() {
    let s = System::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut relayer = Relayer::start(&s, dir.path()).await;
    let mut node =
        Node::configure(&s, &dir.path().join("node"), ANVIL_KEYS[1], &relayer.url(), Meter::Simulated);
    let market = IMarket::new(s.at("market"), s.anyone.p.clone());
    let token = IComputeToken::new(s.seeded.token, s.anyone.p.clone());
    let bought = s.buy_seconds(U256::from(1_000_000)).await;
    let runs = Runs(dir.path().join("job-a.pids"));

    // Job A: the node is killed while the job's process runs, after it metered (and
    // persisted) at least 1.5 s of it.
    let spec_a = format!(
        r#"{{"version": 1, "command": "sh", "args": ["-c", "echo $$ >> {}; exec sleep 20"], "time_limit_s": 60}}"#,
        runs.0.display()
    );
    let spec_a = relayer.put_spec(spec_a.as_bytes()).await;
    let job_a = s.open_job(U256::from(300), spec_a).await;
    node.start();
    poll("job A running", Duration::from_secs(30), || async { (!runs.pids().is_empty()).then_some(()) })
        .await;
    assert!(node.claimed(job_a));
    assert_eq!(market.job(job_a).call().await.unwrap()._8, ACCEPTED);
    let samples = node.data().join("jobs").join(job_a.to_string()).join("samples.jsonl");
    poll("1.5 s of job A metered and persisted", Duration::from_secs(30), || async {
        let text = std::fs::read_to_string(&samples).unwrap_or_default();
        let t: Vec<u64> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?.get("t_ms")?.as_u64())
            .collect();
        (t.len() >= 2 && t[t.len() - 1] - t[0] >= 1500).then_some(())
    })
    .await;
    let supply_before = token.totalSupply().call().await.unwrap();
    node.kill_9();
    let orphan = runs.pids()[0].clone();
    assert!(alive(&orphan), "job A's process outlived the node");

    // Restarted, the node kills the orphan and reports the metered part of A (its final
    // report, from the persisted samples); the relayer settles it, closing the job.
    node.start();
    let report_a = poll("job A's final report spooled", Duration::from_secs(30), || async {
        let all: Vec<_> = ["pending", "sent", "rejected"].iter().flat_map(|st| node.spooled(st)).collect();
        let a: Vec<_> = all.into_iter().filter(|r| r.report.jobId == job_a).collect();
        (!a.is_empty()).then_some(a)
    })
    .await;
    assert_eq!(report_a.len(), 1, "one report for job A (one GPU): {report_a:?}");
    let report_a = report_a.into_iter().next().unwrap();
    assert!(report_a.report.nonce.bit(255), "job A's recovered report is its final one");
    assert!(report_a.report.gpuSeconds > 0, "{:?}", report_a.report);
    assert!(report_a.report.gpuSeconds <= report_a.report.endTs - report_a.report.startTs);
    assert!(!alive(&orphan), "the restarted node killed job A's orphaned process");
    relayer.wait_for(report_a.id(), "settled", Duration::from_secs(60)).await;
    assert_eq!(market.job(job_a).call().await.unwrap()._8, SETTLED, "job A closed");

    // Job B: its report is spooled while the relayer is down, then the node is killed
    // before it could deliver it.
    let spec_b = relayer
        .put_spec(br#"{"version": 1, "command": "sh", "args": ["-c", "sleep 3"], "time_limit_s": 60}"#)
        .await;
    let job_b = s.open_job(U256::from(300), spec_b).await;
    poll("job B accepted", Duration::from_secs(30), || async {
        (market.job(job_b).call().await.unwrap()._8 == ACCEPTED && node.claimed(job_b)).then_some(())
    })
    .await;
    relayer.proc.kill_9();
    let pending = poll("job B's report spooled", Duration::from_secs(30), || async {
        let p = node.spooled("pending");
        (!p.is_empty()).then_some(p)
    })
    .await;
    node.kill_9();
    assert_eq!(pending.len(), 1, "one report, job B's: {pending:?}");
    assert_eq!(pending[0].report.jobId, job_b);
    assert!(settled_events(&s, job_b).await.is_empty(), "not delivered yet");

    // Both back (the relayer on its queue, the node on its config and spool).
    relayer = Relayer::start_with(&relayer.config.clone(), dir.path()).await;
    node.start();
    let id = pending[0].id();
    relayer.wait_for(id, "settled", Duration::from_secs(60)).await;
    poll("the node's spool says sent", Duration::from_secs(10), || async {
        (node.spooled("pending").is_empty() && node.spooled("sent").len() == 2).then_some(())
    })
    .await;
    let events = settled_events(&s, job_b).await;
    assert_eq!(events.len(), 1, "job B settled exactly once");
    let settled = events[0].log_decode::<ISettlement::ReportSettled>().unwrap().inner.data;
    assert_eq!(U256::from(settled.nonce), pending[0].report.nonce);
    assert_eq!(market.job(job_b).call().await.unwrap()._8, SETTLED);

    // Job A, across both restarts: settled exactly once, its one report acknowledged, never
    // re-run; its unused escrow back to the buyer and its used seconds burned, as B's.
    let log = node.log_text();
    let events_a = settled_events(&s, job_a).await;
    assert_eq!(events_a.len(), 1, "job A settled exactly once\n{log}");
    let settled_a = events_a[0].log_decode::<ISettlement::ReportSettled>().unwrap().inner.data;
    assert_eq!(U256::from(settled_a.nonce), report_a.report.nonce);
    assert_eq!(settled_a.gpuSecondsBurned, report_a.report.gpuSeconds);
    let burned_a = U256::from(settled_a.gpuSecondsBurned);
    assert_eq!(U256::from(settled_a.secondsRefunded), U256::from(300) - burned_a);
    let spool: Vec<_> = ["pending", "sent", "rejected"].iter().flat_map(|st| node.spooled(st)).collect();
    assert_eq!(spool.iter().filter(|r| r.report.jobId == job_a).count(), 1, "{spool:?}");
    assert_eq!(runs.pids().len(), 1, "job A ran once, not again after the restarts");
    assert_eq!(market.job(job_a).call().await.unwrap()._8, SETTLED);
    let burned = U256::from(settled.gpuSecondsBurned);
    assert_eq!(
        token.balanceOf(s.buyer.address).call().await.unwrap(),
        bought - burned_a - burned,
        "jobs A's and B's unused seconds back\n{log}"
    );
    assert_eq!(
        supply_before - token.totalSupply().call().await.unwrap(),
        burned_a + burned,
        "A's and B's used seconds burned"
    );
    report("provider node killed mid-job", &s);
}
