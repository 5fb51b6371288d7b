//! The binary as a user runs it: init, the NVML error line, a full simulated job whose
//! signed report verifies with the market's rules, status.

mod common;

use alloy::primitives::Address;
use market_protocol::evidence::{evidence_digest, EvidenceIdentity, EvidenceKind};
use market_protocol::SignedReport;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_provider-node"));
    c.env_remove("PROVIDER_NODE_KEY").env_remove("PROVIDER_NODE_TX_KEY").env("RUST_LOG", "warn");
    c
}

#[test]
fn init_writes_a_0600_key_and_a_config_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["init", "--simulated", "--market", common::MARKET])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = dir.path().join("provider.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let cfg = provider_node::config::Config::load(&dir.path().join("provider.toml"), Vec::new()).unwrap();
    assert_eq!(cfg.chain.market, common::MARKET.parse::<Address>().unwrap());
    let text = std::fs::read_to_string(dir.path().join("provider.toml")).unwrap();
    assert!(text.lines().filter(|l| l.starts_with('#')).count() >= 10, "the config is commented");
    // never overwrites
    let again = bin().current_dir(dir.path()).args(["init"]).output().unwrap();
    assert!(!again.status.success());
}

#[test]
fn run_without_nvml_stops_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(
        dir.path(),
        "http://127.0.0.1:9",
        "kind = \"nvml\"\nnvml_lib = \"/nonexistent/libnvidia-ml.so.1\"",
        "",
    );
    let out = bin().args(["run", "--config"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line: {stderr}");
    assert!(lines[0].contains("NVML is not available"), "{stderr}");
    assert!(
        lines[0].contains("kind = \"simulated\"") && lines[0].contains("PROVIDER_NODE_METER_KIND=simulated"),
        "{stderr}"
    );
}

#[test]
fn bad_config_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(
        dir.path(),
        "http://127.0.0.1:9",
        "kind = \"simulated\"\nsample_interval_ms = 5",
        "",
    );
    let out = bin().args(["run", "--config"]).arg(&cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("meter.sample_interval_ms"), "{stderr}");
}

#[test]
fn simulated_job_report_verifies_with_the_market_rules() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(
        dir.path(),
        "http://127.0.0.1:9", // nothing listens: the report stays pending
        "kind = \"simulated\"\nsample_interval_ms = 100\n[meter.simulated]\ngpus = 2\nutil_pct = 70\npower_watts = 250",
        "",
    );
    let out = bin()
        .args(["exec", "--config"])
        .arg(&cfg)
        .args([
            "--job-id",
            "5",
            "--gpus",
            "2",
            "--",
            "sh",
            "-c",
            "echo working on $CUDA_VISIBLE_DEVICES; sleep 1.1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("2 report(s) still pending"), "{stdout}");
    let job_out = std::fs::read_to_string(dir.path().join("data/jobs/5/stdout")).unwrap();
    assert_eq!(job_out, "working on GPU-SIMULATED-0000,GPU-SIMULATED-0001\n");

    let pending: Vec<_> = std::fs::read_dir(dir.path().join("data/spool/pending"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(pending.len(), 2, "one report per GPU");
    let provider =
        alloy::signers::local::PrivateKeySigner::from_bytes(&common::KEY.parse().unwrap()).unwrap().address();
    for file in &pending {
        let s = SignedReport::from_json(&std::fs::read(file).unwrap()).unwrap();
        // file name = report id = EIP-712 signing hash
        assert_eq!(file.file_stem().unwrap().to_str().unwrap(), s.report.signing_hash(&s.domain).to_string());
        assert_eq!(s.signer().unwrap(), provider);
        assert_eq!(s.report.provider, provider);
        assert_eq!(s.domain.market, common::MARKET.parse::<Address>().unwrap());
        assert_eq!(s.evidence.len(), 1);
        assert_eq!(s.evidence[0].kind, EvidenceKind::None);
        assert_eq!(s.report.evidenceDigest, evidence_digest(&[EvidenceIdentity::None { provider }]).unwrap());
        assert!((1..=2).contains(&s.report.gpuSeconds), "{:?}", s.report);
        assert!(s.report.gpuSeconds <= s.report.endTs - s.report.startTs);
        assert_eq!(s.report.avgUtilBps, 7000);
        assert!(s.report.energyMilliJoules >= 250 * 1000, "≥ 250 W for ≥ 1 s: {:?}", s.report);
        // the CLI verifier agrees
        let v = bin()
            .arg("verify-report")
            .arg(file)
            .arg("--provider")
            .arg(provider.to_string())
            .output()
            .unwrap();
        assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
        assert!(String::from_utf8_lossy(&v.stdout).starts_with("OK report"));
    }

    // Tampering is caught by the verifier.
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&pending[0]).unwrap()).unwrap();
    doc["report"]["gpuSeconds"] = serde_json::json!("3");
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, serde_json::to_vec(&doc).unwrap()).unwrap();
    let v = bin().arg("verify-report").arg(&tampered).output().unwrap();
    assert!(!v.status.success());

    let st = bin().args(["status", "--config"]).arg(&cfg).output().unwrap();
    let st = String::from_utf8_lossy(&st.stdout);
    assert!(st.contains("Simulated, 2 GPU(s)") && st.contains("2 pending, 0 sent"), "{st}");
    let digest = evidence_digest(&[EvidenceIdentity::None { provider }]).unwrap();
    assert!(st.contains(&format!("evidenceDigest {digest}")), "{st}");
}

#[test]
fn init_without_a_market_says_how_to_give_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin().current_dir(dir.path()).args(["init", "--simulated"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--market") && stderr.contains("--deployment"), "{stderr}");
    let bad = dir.path().join("devnet.json");
    std::fs::write(&bad, r#"{"chainId": 412346, "contracts": {}}"#).unwrap();
    let out = bin().current_dir(dir.path()).args(["init", "--deployment"]).arg(&bad).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("contracts.market.address"), "{stderr}");
    assert!(!dir.path().join("provider.toml").exists(), "nothing written on error");
}

/// A provider whose account (the transaction key) differs from its registered report
/// signing key: reports name the account and are signed by the signing key.
#[test]
fn separate_transaction_key_is_the_reports_provider() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(
        dir.path(),
        "http://127.0.0.1:9",
        "kind = \"simulated\"\nsample_interval_ms = 50",
        "",
    );
    let account_key = "0x0303030303030303030303030303030303030303030303030303030303030303";
    let account =
        alloy::signers::local::PrivateKeySigner::from_bytes(&account_key.parse().unwrap()).unwrap().address();
    let signer =
        alloy::signers::local::PrivateKeySigner::from_bytes(&common::KEY.parse().unwrap()).unwrap().address();
    let out = bin()
        .env("PROVIDER_NODE_TX_KEY", account_key)
        .args(["exec", "--config"])
        .arg(&cfg)
        .args(["--job-id", "8", "--", "true"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file =
        std::fs::read_dir(dir.path().join("data/spool/pending")).unwrap().next().unwrap().unwrap().path();
    let s = SignedReport::from_json(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!((s.report.provider, s.signer().unwrap()), (account, signer));
    assert_eq!(
        s.report.evidenceDigest,
        evidence_digest(&[EvidenceIdentity::None { provider: account }]).unwrap()
    );
    let v = bin().arg("verify-report").arg(&file).output().unwrap();
    assert!(!v.status.success(), "not signed by the account itself");
    let v = bin()
        .arg("verify-report")
        .arg(&file)
        .args(["--signer", &signer.to_string(), "--provider", &account.to_string()])
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let st = bin()
        .env("PROVIDER_NODE_TX_KEY", account_key)
        .args(["status", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let st = String::from_utf8_lossy(&st.stdout);
    assert!(st.contains(&format!("provider:  {account} (reports signed by {signer})")), "{st}");
    assert!(
        st.contains("chain watcher is off")
            && st.contains("1 known: 0 assigned, 0 accepted, 0 running, 1 reported"),
        "{st}"
    );
}
