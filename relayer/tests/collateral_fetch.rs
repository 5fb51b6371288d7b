//! Fetching collateral sources against a local HTTP server that serves the REAL vendor
//! samples in `tests/data/` the way a PCCS (v4 API) and the AMD KDS serve them: the sample
//! TDX collateral split into its PCCS responses (issuer chains URL-encoded in headers, TCB
//! info / QE identity as `{"tcbInfo": .., "signature": ..}` bodies, CRLs), and the Milan VCEK
//! under its KDS path. Times are pinned (the sample collateral expired long ago).
//!
//! Each source: the first verification fetches; the second is served from the disk cache (the
//! server counts requests); a new source on the same folder (a restarted relayer) uses the
//! cache; a corrupted cache file is fetched again; expired collateral is refreshed; the server
//! down with nothing cached is a typed error naming the URL.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{Address, B256};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use dcap_qvl::QuoteCollateralV3;
use market_protocol::{Evidence, EvidenceKind};
use relayer::evidence::fetch::VcekKey;
use relayer::evidence::snp::{verify_snp, AmdProduct, SnpPolicy, SnpTcb};
use relayer::evidence::tdx::{verify_tdx, TdxMeasurement, TdxPolicy};
use relayer::evidence::{
    verify_evidence, ClassPolicy, CollateralError, CollateralSource, DiskCache, EvidenceError,
    FetchingCollateral, KdsVceks, PccsCollateral,
};

/// Inside the sample TDX collateral's validity (before its nextUpdate 2025-07-19T10:16:03Z).
const PINNED_NOW: u64 = 1_750_400_000;
/// After the TDX sample's nextUpdate (2025-07-19T10:16:03Z = 1752920163).
const AFTER_NEXT_UPDATE: u64 = 1_752_920_164;
const TDX_QUOTE: &[u8] = include_bytes!("data/tdx_quote.bin");
const TDX_COLLATERAL: &[u8] = include_bytes!("data/tdx_quote_collateral.json");
const TDX_REPORT_DATA: &str = "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20";
const TDX_MRTD: &str =
    "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7";
const SNP_VCEK: &[u8] = include_bytes!("data/snp_vcek_milan.der");
const SNP_REPORT_DATA: &str = "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd";

fn hex64(s: &str) -> [u8; 64] {
    hex::decode(s).unwrap().try_into().unwrap()
}

fn sample_collateral() -> QuoteCollateralV3 {
    serde_json::from_slice(TDX_COLLATERAL).unwrap()
}

fn snp_report() -> Vec<u8> {
    hex::decode(include_str!("data/snp_report_milan.hex").trim()).unwrap()
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What the fake vendor server saw.
#[derive(Default)]
struct Seen {
    requests: AtomicUsize,
    paths: Mutex<Vec<String>>,
}

type Shared = Arc<(QuoteCollateralV3, Seen)>;

fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn count(s: &Shared, what: &str) {
    s.1.requests.fetch_add(1, Ordering::SeqCst);
    s.1.paths.lock().unwrap().push(what.to_string());
}

fn with_header(name: &'static str, value: &str, body: impl IntoResponse) -> Response {
    let mut h = HeaderMap::new();
    h.insert(name, HeaderValue::from_str(&url_encode(value)).unwrap());
    (h, body).into_response()
}

async fn pckcrl(State(s): State<Shared>, uri: Uri) -> Response {
    count(&s, "pckcrl");
    let q = query(&uri);
    if q.get("ca").map(String::as_str) != Some("platform") {
        return StatusCode::NOT_FOUND.into_response();
    }
    with_header("SGX-PCK-CRL-Issuer-Chain", &s.0.pck_crl_issuer_chain, s.0.pck_crl.clone())
}

async fn tcb(State(s): State<Shared>, uri: Uri) -> Response {
    count(&s, "tcb");
    let q = query(&uri);
    if q.get("fmspc").map(String::as_str) != Some("B0C06F000000") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let body =
        format!(r#"{{"tcbInfo":{},"signature":"{}"}}"#, s.0.tcb_info, hex::encode(&s.0.tcb_info_signature));
    with_header("TCB-Info-Issuer-Chain", &s.0.tcb_info_issuer_chain, body)
}

async fn qe_identity(State(s): State<Shared>) -> Response {
    count(&s, "qe/identity");
    let body = format!(
        r#"{{"enclaveIdentity":{},"signature":"{}"}}"#,
        s.0.qe_identity,
        hex::encode(&s.0.qe_identity_signature)
    );
    with_header("SGX-Enclave-Identity-Issuer-Chain", &s.0.qe_identity_issuer_chain, body)
}

async fn rootcacrl(State(s): State<Shared>) -> Response {
    count(&s, "rootcacrl");
    // PCCS serves it hex-encoded.
    hex::encode(&s.0.root_ca_crl).into_response()
}

async fn vcek(State(s): State<Shared>, Path((product, hwid)): Path<(String, String)>, uri: Uri) -> Response {
    count(&s, &format!("vcek/{product}"));
    let q = query(&uri);
    let key = VcekKey::of_report(&snp_report()).unwrap();
    let tcb_ok =
        [("blSPL", key.bootloader), ("teeSPL", key.tee), ("snpSPL", key.snp), ("ucodeSPL", key.microcode)]
            .iter()
            .all(|(k, v)| q.get(*k) == Some(&v.to_string()));
    if product != "Milan" || hwid != hex::encode(key.chip_id) || !tcb_ok {
        return StatusCode::NOT_FOUND.into_response();
    }
    SNP_VCEK.to_vec().into_response()
}

/// The fake PCCS + KDS on 127.0.0.1:<free port>, on its own thread and runtime; stopped on
/// drop.
struct VendorServer {
    addr: SocketAddr,
    shared: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl VendorServer {
    fn start() -> VendorServer {
        let shared: Shared = Arc::new((sample_collateral(), Seen::default()));
        let app = Router::new()
            .route("/sgx/certification/v4/pckcrl", get(pckcrl))
            .route("/tdx/certification/v4/tcb", get(tcb))
            .route("/tdx/certification/v4/qe/identity", get(qe_identity))
            .route("/sgx/certification/v4/rootcacrl", get(rootcacrl))
            .route("/vcek/v1/{product}/{hwid}", get(vcek))
            .with_state(shared.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        VendorServer { addr, shared, stop: Some(stop), thread: Some(thread) }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> usize {
        self.shared.1.requests.load(Ordering::SeqCst)
    }

    fn paths(&self) -> Vec<String> {
        self.shared.1.paths.lock().unwrap().clone()
    }
}

impl Drop for VendorServer {
    fn drop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = self.thread.take().unwrap().join();
    }
}

/// A URL on which nothing listens.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// Log lines written while `f` runs on this thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

fn with_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    (out, text)
}

fn tdx_policy() -> TdxPolicy {
    TdxPolicy {
        allowed_tcb_statuses: vec!["UpToDate".into()],
        allowed_measurements: vec![TdxMeasurement {
            mrtd: TDX_MRTD.parse().unwrap(),
            rtmr: [None, None, None, None],
        }],
        allow_debug: false,
    }
}

fn verifies(c: &QuoteCollateralV3) {
    verify_tdx(&tdx_policy(), TDX_QUOTE, c, &hex64(TDX_REPORT_DATA), PINNED_NOW)
        .expect("the quote verifies with the fetched collateral");
}

#[test]
fn pccs_collateral_is_fetched_once_then_served_from_the_disk_cache() {
    let server = VendorServer::start();
    let dir = tempfile::tempdir().unwrap();
    let pccs = PccsCollateral::new(&server.url(), DiskCache::open(dir.path()).unwrap(), TIMEOUT);

    let (first, log) = with_logs(|| pccs.collateral_for(TDX_QUOTE, PINNED_NOW));
    let first = first.unwrap();
    assert!(log.contains("fetched TDX collateral from the PCCS") && log.contains("B0C06F000000"), "{log}");
    assert_eq!(server.requests(), 4, "pckcrl, tcb, qe/identity, rootcacrl: {:?}", server.paths());
    assert_eq!(first, sample_collateral(), "the PCCS responses reassemble the sample collateral exactly");
    verifies(&first);
    let cache_file = dir.path().join("tdx-B0C06F000000-platform.json");
    assert!(cache_file.is_file(), "cached by TEE, FMSPC and CA");

    // Second verification: the disk cache, no request.
    let (second, log) = with_logs(|| pccs.collateral_for(TDX_QUOTE, PINNED_NOW + 3_600));
    assert_eq!(second.unwrap(), first);
    assert!(log.contains("from the disk cache"), "{log}");
    assert_eq!(server.requests(), 4);

    // A restarted relayer (new source, same folder) uses the cache too.
    let restarted = PccsCollateral::new(&server.url(), DiskCache::open(dir.path()).unwrap(), TIMEOUT);
    verifies(&restarted.collateral_for(TDX_QUOTE, PINNED_NOW).unwrap());
    assert_eq!(server.requests(), 4);
    // ... even with the PCCS gone.
    let offline = PccsCollateral::new(&dead_url(), DiskCache::open(dir.path()).unwrap(), TIMEOUT);
    verifies(&offline.collateral_for(TDX_QUOTE, PINNED_NOW).unwrap());

    // Past nextUpdate the collateral is fetched again.
    let (refreshed, log) = with_logs(|| pccs.collateral_for(TDX_QUOTE, AFTER_NEXT_UPDATE));
    refreshed.unwrap();
    assert_eq!(server.requests(), 8, "refreshed after nextUpdate");
    assert!(log.contains("reached its nextUpdate; refreshing"), "{log}");

    // A corrupted cache file is fetched again, and the rewritten file is good.
    std::fs::write(&cache_file, b"{\"next_update\": 99999999999, \"collateral\": {trunc").unwrap();
    let (refetched, log) = with_logs(|| pccs.collateral_for(TDX_QUOTE, PINNED_NOW));
    verifies(&refetched.unwrap());
    assert_eq!(server.requests(), 12, "refetched after corruption");
    assert!(
        log.contains("corrupted TDX collateral cache file") && log.contains(cache_file.to_str().unwrap()),
        "a clear log names the file: {log}"
    );
    verifies(&pccs.collateral_for(TDX_QUOTE, PINNED_NOW).unwrap());
    assert_eq!(server.requests(), 12, "the rewritten cache file is used");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left: {leftovers:?}");
}

#[test]
fn pccs_down_without_cache_is_a_typed_error_naming_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let url = dead_url();
    let pccs = PccsCollateral::new(&url, DiskCache::open(dir.path()).unwrap(), TIMEOUT);
    let err = pccs.collateral_for(TDX_QUOTE, PINNED_NOW).unwrap_err();
    let CollateralError::Unavailable { url: failed, .. } = &err else { panic!("{err:?}") };
    assert!(failed.starts_with(&url), "{failed}");
    assert!(err.to_string().contains(&url), "{err}");

    // Through the verifier: not a verdict on the evidence, a transient `collateral_unavailable`.
    let policy = ClassPolicy::from_toml(&format!(
        "required = [\"tdx\"]\n[tdx]\nallowed_tcb_statuses = [\"UpToDate\"]\nallowed_measurements = [{{ mrtd = \"{TDX_MRTD}\" }}]\n"
    ))
    .unwrap();
    let source = FetchingCollateral { pccs: Some(pccs), ..Default::default() };
    let evidence = Evidence { kind: EvidenceKind::Tdx, data: TDX_QUOTE.to_vec(), cert_chain: None };
    let err =
        verify_evidence(&policy, &source, &[evidence], Address::ZERO, B256::ZERO, PINNED_NOW).unwrap_err();
    assert!(matches!(err, EvidenceError::Unavailable(_)), "{err:?}");
    assert_eq!(err.code(), "collateral_unavailable");
    assert!(err.to_string().contains(&url), "{err}");

    // A quote that does not say which collateral it needs is malformed, not "unavailable".
    let err = source.tdx_collateral(&TDX_QUOTE[..100], PINNED_NOW).unwrap_err();
    assert!(matches!(err, CollateralError::Evidence(_)), "{err:?}");
}

#[test]
fn an_http_error_from_the_pccs_names_the_url_and_status() {
    let server = VendorServer::start();
    let dir = tempfile::tempdir().unwrap();
    // A PCCS mounted elsewhere: every path is a 404.
    let url = format!("{}/nothing-here", server.url());
    let pccs = PccsCollateral::new(&url, DiskCache::open(dir.path()).unwrap(), TIMEOUT);
    let err = pccs.collateral_for(TDX_QUOTE, PINNED_NOW).unwrap_err();
    assert!(err.to_string().contains(&url) && err.to_string().contains("HTTP 404"), "{err}");
}

fn snp_policy() -> SnpPolicy {
    SnpPolicy {
        products: vec![AmdProduct::Milan],
        allowed_measurements: vec![],
        min_tcb: SnpTcb { bootloader: 3, tee: 0, snp: 8, microcode: 115 },
        allow_debug: false,
        allow_migration_agent: false,
        allow_smt: true,
        max_vmpl: 0,
    }
}

/// The VCEK signed the report: verification gets past the signature chain to the policy (the
/// empty measurement allow-list), which only happens with the right VCEK.
fn vcek_signs_the_sample(vcek: &[u8]) {
    let err = verify_snp(&snp_policy(), &snp_report(), vcek, &hex64(SNP_REPORT_DATA)).unwrap_err();
    assert!(matches!(err, EvidenceError::Policy(ref m) if m.contains("measurement")), "{err:?}");
}

#[test]
fn kds_vcek_is_fetched_once_then_served_from_the_disk_cache() {
    let server = VendorServer::start();
    let dir = tempfile::tempdir().unwrap();
    // Genoa first: the KDS answers 404 for a Milan chip there, then Milan serves it.
    let products = vec![AmdProduct::Genoa, AmdProduct::Milan];
    let kds = KdsVceks::new(&server.url(), products.clone(), DiskCache::open(dir.path()).unwrap(), TIMEOUT);
    let report = snp_report();
    let key = VcekKey::of_report(&report).unwrap();
    assert_eq!((key.bootloader, key.tee, key.snp, key.microcode), (3, 0, 8, 115));
    let url = kds.url(AmdProduct::Milan, &key);
    assert_eq!(
        url,
        format!(
            "{}/vcek/v1/Milan/{}?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115",
            server.url(),
            hex::encode(key.chip_id)
        )
    );

    let vcek = kds.vcek_for(&report, PINNED_NOW).unwrap();
    assert_eq!(vcek, SNP_VCEK);
    vcek_signs_the_sample(&vcek);
    assert_eq!(server.paths(), vec!["vcek/Genoa", "vcek/Milan"]);

    assert_eq!(kds.vcek_for(&report, PINNED_NOW).unwrap(), SNP_VCEK);
    assert_eq!(server.requests(), 2, "second verification served from the cache");

    let restarted =
        KdsVceks::new(&server.url(), products.clone(), DiskCache::open(dir.path()).unwrap(), TIMEOUT);
    assert_eq!(restarted.vcek_for(&report, PINNED_NOW).unwrap(), SNP_VCEK);
    assert_eq!(server.requests(), 2, "a restarted relayer uses the cache");

    // Through the collateral source and verifier.
    let source = FetchingCollateral { kds: Some(restarted), ..Default::default() };
    let vceks = source.snp_vceks(&report, PINNED_NOW).unwrap();
    assert_eq!(vceks, vec![SNP_VCEK.to_vec()]);

    // Corrupted cache file: fetched again (the cache is keyed by product, chip id and TCB).
    let cached: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let name = cached[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.starts_with("vcek-Milan-") && name.contains(&hex::encode(key.chip_id)), "{name}");
    assert!(name.contains("bl3-tee0-snp8-ucode115"), "{name}");
    std::fs::write(&cached[0], &SNP_VCEK[..SNP_VCEK.len() / 2]).unwrap();
    let (refetched, log) = with_logs(|| kds.vcek_for(&report, PINNED_NOW));
    assert_eq!(refetched.unwrap(), SNP_VCEK);
    assert!(
        log.contains("corrupted VCEK cache file") && log.contains(cached[0].to_str().unwrap()),
        "a clear log names the file: {log}"
    );
    assert_eq!(server.requests(), 4, "refetched (Genoa 404, Milan) after corruption");
    assert_eq!(std::fs::read(&cached[0]).unwrap(), SNP_VCEK, "the cache file is repaired");
}

#[test]
fn kds_down_without_cache_is_a_typed_error_naming_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let base = dead_url();
    let kds = KdsVceks::new(&base, vec![AmdProduct::Milan], DiskCache::open(dir.path()).unwrap(), TIMEOUT);
    let err = kds.vcek_for(&snp_report(), PINNED_NOW).unwrap_err();
    let CollateralError::Unavailable { url, .. } = &err else { panic!("{err:?}") };
    assert!(url.starts_with(&format!("{base}/vcek/v1/Milan/")), "{url}");

    // A chip the KDS does not know: 404 for every product, named.
    let server = VendorServer::start();
    let kds =
        KdsVceks::new(&server.url(), vec![AmdProduct::Turin], DiskCache::open(dir.path()).unwrap(), TIMEOUT);
    let err = kds.vcek_for(&snp_report(), PINNED_NOW).unwrap_err();
    assert!(err.to_string().contains("/vcek/v1/Turin/") && err.to_string().contains("404"), "{err}");
}
