//! Fetching collateral sources with an on-disk cache: Intel TDX collateral from a PCCS (the
//! PCCS / Intel PCS v4 API) and AMD SEV-SNP VCEKs from the AMD Key Distribution Service.
//!
//! What is fetched is signed by the vendor and verified like pre-loaded collateral, so neither
//! the server nor the cache needs to be trusted: a wrong or corrupted file only fails
//! verification. The cache exists so that a relayer does not ask the vendor on every report
//! and survives a restart or a vendor outage while its collateral is still current.
//!
//! - TDX: keyed by (TEE, FMSPC, PCK CA) read from the quote's embedded PCK certificate
//!   (certification data type 5); one JSON file per key, reused until the earliest
//!   `nextUpdate` of its TCB info and QE identity, then fetched again.
//! - SNP: keyed by (product, chip id, reported TCB); one DER file per key, reused until the
//!   certificate's `notAfter`.
//!
//! Files are written to a temporary name in the cache folder, synced, then renamed over the
//! final name, so a crash never leaves a half-written file under the final name. A file that
//! does not parse is logged and fetched again.
//!
//! Verification runs on blocking threads (`spawn_blocking`), so these sources are
//! synchronous: each fetch runs on its own short-lived thread with a current-thread tokio
//! runtime driving reqwest, which works whether or not the caller is inside a runtime.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dcap_qvl::QuoteCollateralV3;
use serde::{Deserialize, Serialize};

use super::snp::AmdProduct;

/// A collateral source could not produce what a piece of evidence needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollateralError {
    /// The server could not be reached or answered with an error; nothing usable is cached.
    #[error("collateral server {url} unavailable: {reason}")]
    Unavailable { url: String, reason: String },
    /// The server answered, but not with what the API promises.
    #[error("collateral server {url} sent an unusable response: {reason}")]
    BadResponse { url: String, reason: String },
    /// The evidence does not say which collateral it needs (unparseable, or a TDX quote
    /// without an embedded PCK certificate chain).
    #[error("cannot tell which collateral the evidence needs: {0}")]
    Evidence(String),
}

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// `GET url` with reqwest on a thread of its own (see the module docs). Errors are the
/// transport's message.
pub fn http_get(url: &str, timeout: Duration) -> Result<HttpAnswer, String> {
    let url = url.to_string();
    std::thread::scope(|s| {
        s.spawn(move || -> Result<HttpAnswer, String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("runtime: {e}"))?;
            rt.block_on(async move {
                let client = reqwest::Client::builder()
                    .timeout(timeout)
                    .connect_timeout(timeout)
                    .build()
                    .map_err(|e| e.to_string())?;
                let resp = client.get(&url).send().await.map_err(|e| error_chain(&e))?;
                let status = resp.status().as_u16();
                let headers = resp
                    .headers()
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                    .collect();
                let body = resp.bytes().await.map_err(|e| error_chain(&e))?.to_vec();
                Ok::<HttpAnswer, String>(HttpAnswer { status, headers, body })
            })
        })
        .join()
        .unwrap_or_else(|_| Err("HTTP thread panicked".into()))
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A folder of cache files, written atomically.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl DiskCache {
    /// Creates the folder if needed.
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(DiskCache { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The file's bytes; `None` if it does not exist (or cannot be read: logged).
    pub fn read(&self, name: &str) -> Option<Vec<u8>> {
        let path = self.path(name);
        match std::fs::read(&path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "collateral cache file unreadable; fetching again");
                None
            }
        }
    }

    /// Writes `bytes` under `name`: a temporary file in the same folder, fsync, rename, fsync
    /// of the folder. Readers see the old file or the new one, never a mix.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let tmp = self.dir.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, self.path(name))?;
            if let Ok(d) = std::fs::File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn store(&self, name: &str, bytes: &[u8]) {
        if let Err(e) = self.write_atomic(name, bytes) {
            // The collateral is still used; only the next fetch is not saved.
            tracing::warn!(path = %self.path(name).display(), error = %e, "could not write the collateral cache");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Intel: PCCS
// ---------------------------------------------------------------------------------------------

/// TDX (and SGX) collateral from a PCCS or Intel PCS (v4 API), cached on disk.
#[derive(Debug, Clone)]
pub struct PccsCollateral {
    base_url: String,
    cache: DiskCache,
    timeout: Duration,
}

/// What the cache keeps for one (TEE, FMSPC, CA).
#[derive(Debug, Serialize, Deserialize)]
struct CachedTdx {
    /// Unix seconds: the earliest `nextUpdate` of the TCB info and QE identity.
    next_update: u64,
    collateral: QuoteCollateralV3,
}

#[derive(Deserialize)]
struct TcbInfoResponse<'a> {
    #[serde(rename = "tcbInfo", borrow)]
    tcb_info: &'a serde_json::value::RawValue,
    signature: String,
}

#[derive(Deserialize)]
struct QeIdentityResponse<'a> {
    #[serde(rename = "enclaveIdentity", borrow)]
    enclave_identity: &'a serde_json::value::RawValue,
    signature: String,
}

#[derive(Deserialize)]
struct NextUpdate {
    #[serde(rename = "nextUpdate")]
    next_update: String,
}

/// Where the (TEE, FMSPC, CA) of a quote comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxCollateralKey {
    /// "tdx" or "sgx".
    pub tee: &'static str,
    /// Upper-case hex, as the PCCS API spells it.
    pub fmspc: String,
    /// "processor" or "platform".
    pub ca: &'static str,
}

impl TdxCollateralKey {
    /// Reads the key from a quote's embedded PCK leaf certificate.
    pub fn of_quote(quote: &[u8]) -> Result<Self, CollateralError> {
        let parsed = dcap_qvl::quote::Quote::parse(quote)
            .map_err(|e| CollateralError::Evidence(format!("TDX quote: {e:#}")))?;
        let fmspc = dcap_qvl::intel::quote_fmspc(&parsed)
            .map_err(|e| CollateralError::Evidence(format!("FMSPC of the quote's PCK certificate: {e:#}")))?;
        let ca = dcap_qvl::intel::quote_ca(&parsed)
            .map_err(|e| CollateralError::Evidence(format!("CA of the quote's PCK certificate: {e:#}")))?;
        Ok(TdxCollateralKey {
            tee: if parsed.header.is_sgx() { "sgx" } else { "tdx" },
            fmspc: hex::encode_upper(fmspc),
            ca: ca.as_id_str(),
        })
    }

    fn file_name(&self) -> String {
        format!("{}-{}-{}.json", self.tee, self.fmspc, self.ca)
    }
}

impl PccsCollateral {
    /// `base_url`: the PCCS root, e.g. `https://pccs.internal:8081` (a trailing
    /// `/sgx/certification/v4` or `/tdx/certification/v4` is accepted and removed).
    pub fn new(base_url: &str, cache: DiskCache, timeout: Duration) -> Self {
        let base_url = base_url
            .trim_end_matches('/')
            .trim_end_matches("/sgx/certification/v4")
            .trim_end_matches("/tdx/certification/v4")
            .to_string();
        PccsCollateral { base_url, cache, timeout }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The collateral for `quote`, from the cache while it is current at `now_secs`, else
    /// from the PCCS (then cached).
    pub fn collateral_for(&self, quote: &[u8], now_secs: u64) -> Result<QuoteCollateralV3, CollateralError> {
        let key = TdxCollateralKey::of_quote(quote)?;
        let name = key.file_name();
        if let Some(bytes) = self.cache.read(&name) {
            match serde_json::from_slice::<CachedTdx>(&bytes) {
                Ok(c) if now_secs < c.next_update => {
                    tracing::debug!(fmspc = %key.fmspc, ca = key.ca, "TDX collateral from the disk cache");
                    return Ok(c.collateral);
                }
                Ok(c) => tracing::info!(
                    fmspc = %key.fmspc, ca = key.ca, next_update = c.next_update,
                    "cached TDX collateral reached its nextUpdate; refreshing from the PCCS"
                ),
                Err(e) => tracing::warn!(
                    path = %self.cache.path(&name).display(), error = %e,
                    "corrupted TDX collateral cache file; fetching it again from the PCCS"
                ),
            }
        }
        let fetched = self.fetch(&key)?;
        tracing::info!(
            fmspc = %key.fmspc, ca = key.ca, pccs = %self.base_url, next_update = fetched.next_update,
            "fetched TDX collateral from the PCCS"
        );
        match serde_json::to_vec(&fetched) {
            Ok(bytes) => self.cache.store(&name, &bytes),
            Err(e) => tracing::warn!(error = %e, "could not encode TDX collateral for the cache"),
        }
        Ok(fetched.collateral)
    }

    fn url(&self, tee: &str, path: &str) -> String {
        format!("{}/{tee}/certification/v4/{path}", self.base_url)
    }

    fn get_ok(&self, url: &str) -> Result<HttpAnswer, CollateralError> {
        let answer = http_get(url, self.timeout)
            .map_err(|reason| CollateralError::Unavailable { url: url.to_string(), reason })?;
        if !(200..300).contains(&answer.status) {
            return Err(CollateralError::Unavailable {
                url: url.to_string(),
                reason: format!("HTTP {}", answer.status),
            });
        }
        Ok(answer)
    }

    fn fetch(&self, key: &TdxCollateralKey) -> Result<CachedTdx, CollateralError> {
        let bad = |url: &str, reason: String| CollateralError::BadResponse { url: url.to_string(), reason };
        let header = |a: &HttpAnswer, url: &str, names: &[&str]| -> Result<String, CollateralError> {
            let v = names
                .iter()
                .find_map(|n| a.header(n))
                .ok_or_else(|| bad(url, format!("no {} header", names[0])))?;
            percent_decode(v).ok_or_else(|| bad(url, format!("{} header is not URL-encoded text", names[0])))
        };

        let url = self.url("sgx", &format!("pckcrl?ca={}&encoding=der", key.ca));
        let a = self.get_ok(&url)?;
        let pck_crl_issuer_chain = header(&a, &url, &["SGX-PCK-CRL-Issuer-Chain"])?;
        let pck_crl =
            der_or_hex(&a.body).ok_or_else(|| bad(&url, "PCK CRL is neither DER nor hex".into()))?;

        let url = self.url(key.tee, &format!("tcb?fmspc={}", key.fmspc));
        let a = self.get_ok(&url)?;
        let tcb_info_issuer_chain =
            header(&a, &url, &["TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"])?;
        let r: TcbInfoResponse =
            serde_json::from_slice(&a.body).map_err(|e| bad(&url, format!("TCB info JSON: {e}")))?;
        let tcb_info = r.tcb_info.get().to_string();
        let tcb_info_signature =
            hex::decode(&r.signature).map_err(|e| bad(&url, format!("TCB info signature: {e}")))?;
        let tcb_next =
            next_update_of(&tcb_info).ok_or_else(|| bad(&url, "TCB info has no valid nextUpdate".into()))?;

        let url = self.url(key.tee, "qe/identity");
        let a = self.get_ok(&url)?;
        let qe_identity_issuer_chain = header(&a, &url, &["SGX-Enclave-Identity-Issuer-Chain"])?;
        let r: QeIdentityResponse =
            serde_json::from_slice(&a.body).map_err(|e| bad(&url, format!("QE identity JSON: {e}")))?;
        let qe_identity = r.enclave_identity.get().to_string();
        let qe_identity_signature =
            hex::decode(&r.signature).map_err(|e| bad(&url, format!("QE identity signature: {e}")))?;
        let qe_next = next_update_of(&qe_identity)
            .ok_or_else(|| bad(&url, "QE identity has no valid nextUpdate".into()))?;

        // PCCS serves the root CA CRL as hex text; Intel PCS has no such endpoint (its URL
        // is in the root certificate), so a PCCS is required here.
        let url = self.url("sgx", "rootcacrl");
        let a = self.get_ok(&url)?;
        let root_ca_crl =
            der_or_hex(&a.body).ok_or_else(|| bad(&url, "root CA CRL is neither DER nor hex".into()))?;

        Ok(CachedTdx {
            next_update: tcb_next.min(qe_next),
            collateral: QuoteCollateralV3 {
                pck_crl_issuer_chain,
                root_ca_crl,
                pck_crl,
                tcb_info_issuer_chain,
                tcb_info,
                tcb_info_signature,
                qe_identity_issuer_chain,
                qe_identity,
                qe_identity_signature,
                pck_certificate_chain: None,
            },
        })
    }
}

fn next_update_of(json: &str) -> Option<u64> {
    let n: NextUpdate = serde_json::from_str(json).ok()?;
    parse_rfc3339_utc(&n.next_update)
}

/// A DER body as is; a hex body (PCCS) decoded.
fn der_or_hex(body: &[u8]) -> Option<Vec<u8>> {
    if body.first() == Some(&0x30) {
        return Some(body.to_vec());
    }
    let text = std::str::from_utf8(body).ok()?.trim();
    let bytes = hex::decode(text).ok()?;
    (bytes.first() == Some(&0x30)).then_some(bytes)
}

/// Decodes `%XX` escapes (PCCS URL-encodes its issuer-chain headers); `None` if the result
/// is not UTF-8 or an escape is broken.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` (or `+00:00`) to Unix seconds.
pub fn parse_rfc3339_utc(s: &str) -> Option<u64> {
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.split('.').next()?;
    let mut t = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3_600 + mm * 60 + ss).ok()
}

// ---------------------------------------------------------------------------------------------
// AMD: KDS
// ---------------------------------------------------------------------------------------------

/// SEV-SNP VCEKs from the AMD Key Distribution Service (or a mirror with the same paths),
/// cached on disk by (product, chip id, reported TCB).
#[derive(Debug, Clone)]
pub struct KdsVceks {
    base_url: String,
    products: Vec<AmdProduct>,
    cache: DiskCache,
    timeout: Duration,
}

/// What a VCEK is derived from, read from an SNP report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcekKey {
    pub chip_id: [u8; 64],
    pub bootloader: u8,
    pub tee: u8,
    pub snp: u8,
    pub microcode: u8,
    /// Turin and later only.
    pub fmc: Option<u8>,
}

impl VcekKey {
    pub fn of_report(report: &[u8]) -> Result<Self, CollateralError> {
        use sev::firmware::guest::AttestationReport;
        use sev::parser::ByteParser;
        let raw = report
            .get(..market_protocol::evidence::SNP_REPORT_LEN)
            .ok_or_else(|| CollateralError::Evidence(format!("SNP report is {} bytes", report.len())))?;
        let r = AttestationReport::from_bytes(raw)
            .map_err(|e| CollateralError::Evidence(format!("SNP report: {e}")))?;
        let t = &r.reported_tcb;
        Ok(VcekKey {
            chip_id: r.chip_id,
            bootloader: t.bootloader,
            tee: t.tee,
            snp: t.snp,
            microcode: t.microcode,
            fmc: t.fmc,
        })
    }

    /// The hardware id in KDS URLs: all 64 bytes, except Turin (the first 8).
    fn hwid(&self, product: AmdProduct) -> String {
        match product {
            AmdProduct::Turin => hex::encode(&self.chip_id[..8]),
            _ => hex::encode(self.chip_id),
        }
    }

    fn query(&self, product: AmdProduct) -> String {
        let mut q = format!(
            "blSPL={}&teeSPL={}&snpSPL={}&ucodeSPL={}",
            self.bootloader, self.tee, self.snp, self.microcode
        );
        if let (AmdProduct::Turin, Some(fmc)) = (product, self.fmc) {
            q = format!("fmcSPL={fmc}&{q}");
        }
        q
    }

    fn file_name(&self, product: AmdProduct) -> String {
        let fmc = self.fmc.map(|f| format!("-fmc{f}")).unwrap_or_default();
        format!(
            "vcek-{product:?}-{}-bl{}-tee{}-snp{}-ucode{}{fmc}.der",
            self.hwid(product),
            self.bootloader,
            self.tee,
            self.snp,
            self.microcode
        )
    }
}

impl KdsVceks {
    /// `base_url`: e.g. `https://kdsintf.amd.com`. `products`: tried in order (the report does
    /// not name its product reliably; KDS answers 404 for a chip of another product).
    pub fn new(base_url: &str, products: Vec<AmdProduct>, cache: DiskCache, timeout: Duration) -> Self {
        KdsVceks { base_url: base_url.trim_end_matches('/').to_string(), products, cache, timeout }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The KDS URL of the VCEK for `key` of `product`.
    pub fn url(&self, product: AmdProduct, key: &VcekKey) -> String {
        format!("{}/vcek/v1/{product:?}/{}?{}", self.base_url, key.hwid(product), key.query(product))
    }

    /// The VCEK (DER) for `report`, from the cache while its certificate is valid at
    /// `now_secs`, else from the KDS (then cached).
    pub fn vcek_for(&self, report: &[u8], now_secs: u64) -> Result<Vec<u8>, CollateralError> {
        let key = VcekKey::of_report(report)?;
        for product in &self.products {
            let name = key.file_name(*product);
            if let Some(bytes) = self.cache.read(&name) {
                match cert_not_after(&bytes) {
                    Ok(not_after) if now_secs < not_after => {
                        tracing::debug!(?product, "SNP VCEK from the disk cache");
                        return Ok(bytes);
                    }
                    Ok(_) => tracing::info!(?product, "cached VCEK expired; fetching it again"),
                    Err(e) => tracing::warn!(
                        path = %self.cache.path(&name).display(), error = %e,
                        "corrupted VCEK cache file; fetching it again from the KDS"
                    ),
                }
            }
        }
        let mut not_found = Vec::new();
        for product in &self.products {
            let url = self.url(*product, &key);
            let answer = http_get(&url, self.timeout)
                .map_err(|reason| CollateralError::Unavailable { url: url.clone(), reason })?;
            match answer.status {
                200 => {
                    cert_not_after(&answer.body).map_err(|reason| CollateralError::BadResponse {
                        url: url.clone(),
                        reason: format!("not a DER certificate: {reason}"),
                    })?;
                    tracing::info!(?product, kds = %self.base_url, "fetched SNP VCEK from the KDS");
                    self.cache.store(&key.file_name(*product), &answer.body);
                    return Ok(answer.body);
                }
                404 => not_found.push(url),
                status => {
                    return Err(CollateralError::Unavailable { url, reason: format!("HTTP {status}") });
                }
            }
        }
        Err(CollateralError::Unavailable {
            url: not_found.join(", "),
            reason: "no VCEK for this chip and TCB (HTTP 404)".into(),
        })
    }
}

/// The certificate's `notAfter` in Unix seconds (parsing it is the cache's integrity check).
fn cert_not_after(der: &[u8]) -> Result<u64, String> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| e.to_string())?;
    Ok(cert.tbs_certificate.validity.not_after.to_unix_duration().as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates_parse_to_unix_seconds() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_utc("2025-07-19T10:16:03Z"), Some(1_752_920_163));
        assert_eq!(parse_rfc3339_utc("2024-02-29T23:59:59.123Z"), Some(1_709_251_199));
        assert_eq!(parse_rfc3339_utc("2025-07-19T10:16:03+00:00"), Some(1_752_920_163));
        for bad in ["", "2025-07-19", "2025-13-01T00:00:00Z", "2025-07-19T10:16:03+02:00", "x-y-zT::Z"] {
            assert_eq!(parse_rfc3339_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%0A-").as_deref(), Some("a b\n-"));
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }

    #[test]
    fn crl_bodies_are_der_or_hex() {
        assert_eq!(der_or_hex(&[0x30, 1, 2]), Some(vec![0x30, 1, 2]));
        assert_eq!(der_or_hex(b"300102\n"), Some(vec![0x30, 1, 2]));
        assert_eq!(der_or_hex(b"nope"), None);
        assert_eq!(der_or_hex(b""), None);
    }

    #[test]
    fn atomic_writes_replace_whole_files_and_leave_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path().join("c")).unwrap();
        cache.write_atomic("a.json", b"first").unwrap();
        cache.write_atomic("a.json", b"second").unwrap();
        assert_eq!(cache.read("a.json").unwrap(), b"second");
        assert_eq!(cache.read("missing"), None);
        let names: Vec<_> = std::fs::read_dir(cache.dir()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
    }
}
