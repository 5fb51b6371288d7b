//! The NVML path through the real nvml-wrapper code, against a fake `libnvidia-ml.so.1` built
//! from C by the test (see tests/fake-nvml/fake_nvml.c for its fixed behaviour).

mod common;

use alloy::primitives::{keccak256, B256, U256};
use market_protocol::evidence::{evidence_digest, EvidenceIdentity, EvidenceKind};
use provider_node::config::Config;
use provider_node::evidence::{nvidia::NvidiaCc, Collector};
use provider_node::jobs::JobSpec;
use provider_node::meter::{nvml::NvmlMeter, Meter, MeterError};
use provider_node::node::Node;
use provider_node::spool::State;
use std::sync::Arc;

fn meter() -> NvmlMeter {
    NvmlMeter::open(Some(common::fake_nvml().as_os_str())).expect("fake NVML loads")
}

#[test]
fn devices_uuids_names_and_driver() {
    let m = meter();
    let gpus = m.gpus().unwrap();
    assert_eq!(gpus.len(), 2);
    assert_eq!(gpus[0].uuid, "GPU-fa4e0000-0000-4000-8000-000000000000");
    assert_eq!(gpus[1].uuid, "GPU-fa4e0000-0000-4000-8000-000000000001");
    assert_eq!(gpus[1].name, "Fake H100 80GB HBM3 #1");
    assert_eq!(m.driver_version().unwrap(), "550.54.fake");
}

#[test]
fn utilisation_and_energy_counter() {
    let m = meter();
    let gpus = m.gpus().unwrap();
    let a = m.read(&gpus[1]).unwrap();
    let b = m.read(&gpus[1]).unwrap();
    assert_eq!(a.util_pct, 40);
    assert_eq!(b.energy_mj - a.energy_mj, 500, "GPU 1's counter advances 500 mJ per read");
}

#[test]
fn accounting_mode_and_per_process_stats() {
    let m = meter();
    let gpus = m.gpus().unwrap();
    assert!(m.accounting_enabled(&gpus[0]).unwrap());
    assert!(!m.accounting_enabled(&gpus[1]).unwrap());
    let s = m.accounting(&gpus[0], 4242).unwrap().expect("pid 4242 is recorded");
    assert_eq!(s.gpu_time_ms, 12_345);
    assert_eq!(s.gpu_util_pct, Some(77));
    assert_eq!(m.accounting(&gpus[0], 1).unwrap(), None);
}

#[test]
fn cc_attestation_carries_the_nonce_and_the_chain_becomes_der() {
    let m: Arc<dyn Meter> = Arc::new(meter());
    let gpus = m.gpus().unwrap();
    let hash = B256::repeat_byte(0x5a);
    let ev = NvidiaCc::new(m.clone()).collect(hash, &gpus[0]).unwrap();
    assert_eq!(ev.kind, EvidenceKind::NvidiaCc);
    assert_eq!(&ev.data[..9], b"FAKE-SPDM");
    assert_eq!(&ev.data[9..], hash.as_slice(), "the report's signing hash is the SPDM nonce");
    let chain = ev.cert_chain.clone().unwrap();
    assert_eq!(chain, vec![b"fake-leaf-device-certificate-der".to_vec(), b"fake-intermediate-der".to_vec()]);
    assert_eq!(
        EvidenceIdentity::from_evidence(&ev, Default::default()).unwrap(),
        EvidenceIdentity::from_nvidia_leaf_cert(b"fake-leaf-device-certificate-der")
    );
    let e = NvidiaCc::new(m).collect(hash, &gpus[1]).unwrap_err().to_string();
    assert!(e.contains("confidential-computing") && e.contains("GPU 1"), "{e}");
}

#[test]
fn missing_library_is_the_one_line_nvml_error() {
    let e = NvmlMeter::open(Some(std::ffi::OsStr::new("/nonexistent/libnvidia-ml.so.1"))).err().unwrap();
    assert!(matches!(e, MeterError::NvmlUnavailable(_)));
    let msg = e.to_string();
    assert!(msg.contains("NVML") && msg.contains("simulated") && !msg.contains('\n'), "{msg}");
}

/// A whole job on the NVML meter: sampler, job process, per-GPU report with NVIDIA CC
/// evidence bound to the signing hash, spooled and verifiable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_on_fake_nvml_produces_a_verifiable_report() {
    let dir = tempfile::tempdir().unwrap();
    let meter = format!(
        "kind = \"nvml\"\nsample_interval_ms = 100\nnvml_lib = \"{}\"",
        common::fake_nvml().display()
    );
    let path = common::write_config(
        dir.path(),
        "http://127.0.0.1:9",
        &meter,
        "[evidence]\ncollectors = [\"nvidia-cc\"]",
    );
    let cfg = Config::load(&path, Vec::new()).unwrap();
    let signer = provider_node::key::load(&cfg.node.key_file, None).unwrap();
    let node = Node::start(cfg, signer.clone()).unwrap();
    let spec = JobSpec {
        job_id: U256::from(77),
        command: "sh".into(),
        args: vec!["-c".into(), "sleep 1.2".into()],
        env: Default::default(),
        gpus: 1,
        time_limit_s: Some(30),
    };
    let record = node.execute(&spec).await.unwrap().unwrap();
    assert_eq!(record.outcome.exit_code, Some(0));
    let g = &record.gpus[0];
    assert_eq!(g.uuid, "GPU-fa4e0000-0000-4000-8000-000000000000");
    assert!((1..=2).contains(&g.usage.gpu_seconds), "{:?}", g.usage);
    assert_eq!(g.usage.avg_util_bps, 9000);
    assert!(g.usage.energy_milli_joules >= 1000 * 10, "~12 samples x 1000 mJ: {:?}", g.usage);
    let id: market_protocol::ReportId = g.report_id.parse().unwrap();
    let s = node.spool().read(State::Pending, &id).unwrap();
    assert_eq!(provider_node::verify::verify(&s).unwrap(), signer.address());
    assert_eq!(s.report.gpuUuidHash, keccak256(g.uuid.as_bytes()));
    assert_eq!(&s.evidence[0].data[9..], s.id().0.as_slice(), "nonce = signing hash = report id");
    assert_eq!(
        s.report.evidenceDigest,
        evidence_digest(&[EvidenceIdentity::from_nvidia_leaf_cert(b"fake-leaf-device-certificate-der")])
            .unwrap()
    );
    // A job id runs once per node.
    assert!(node.execute(&spec).await.unwrap_err().to_string().contains("already taken"));
}
