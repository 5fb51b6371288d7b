//! Where the verifier gets what the evidence itself does not carry: Intel's TDX collateral
//! (TCB info, QE identity, CRLs) and AMD's VCEK certificate for an SNP report.
//!
//! Both are signed by the vendor, so where they come from does not need to be trusted; a
//! wrong one simply fails verification. The offline source holds pre-loaded collateral (the
//! devnet, tests, air-gapped relayers). [`FetchingCollateral`] adds a PCCS and / or the AMD
//! KDS behind an on-disk cache (`fetch.rs`).

use std::path::Path;

use dcap_qvl::QuoteCollateralV3;

use super::fetch::{CollateralError, KdsVceks, PccsCollateral};
use super::EvidenceError;

/// Supplies vendor collateral for a given piece of evidence. Called on blocking threads: an
/// implementation may do I/O.
pub trait CollateralSource: Send + Sync {
    /// TDX collateral candidates for this quote (tried in order), current at `now_secs`
    /// where the source can tell.
    fn tdx_collateral(&self, quote: &[u8], now_secs: u64) -> Result<Vec<QuoteCollateralV3>, CollateralError>;
    /// VCEK certificates (DER) that may have signed this SNP report (tried in order).
    fn snp_vceks(&self, report: &[u8], now_secs: u64) -> Result<Vec<Vec<u8>>, CollateralError>;
}

/// Pre-loaded collateral: every candidate is offered for every piece of evidence. Fine for a
/// handful of platforms; a keyed cache (FMSPC, chip id + TCB) belongs to the fetching source.
#[derive(Debug, Clone, Default)]
pub struct OfflineCollateral {
    pub tdx: Vec<QuoteCollateralV3>,
    pub snp_vceks: Vec<Vec<u8>>,
}

/// Loading pre-loaded collateral from files.
#[derive(Debug, thiserror::Error)]
pub enum CollateralLoadError {
    #[error("reading {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} is not TDX collateral JSON: {source}")]
    Json { path: String, source: serde_json::Error },
}

impl OfflineCollateral {
    /// Adds a TDX collateral JSON file (dcap-qvl's `QuoteCollateralV3` format).
    pub fn add_tdx_file(&mut self, path: &Path) -> Result<(), CollateralLoadError> {
        let bytes = read(path)?;
        let c = serde_json::from_slice(&bytes)
            .map_err(|source| CollateralLoadError::Json { path: path.display().to_string(), source })?;
        self.tdx.push(c);
        Ok(())
    }

    /// Adds a VCEK certificate (DER) file.
    pub fn add_vcek_file(&mut self, path: &Path) -> Result<(), CollateralLoadError> {
        self.snp_vceks.push(read(path)?);
        Ok(())
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CollateralLoadError> {
    std::fs::read(path).map_err(|source| CollateralLoadError::Io { path: path.display().to_string(), source })
}

impl CollateralSource for OfflineCollateral {
    fn tdx_collateral(&self, _quote: &[u8], _now: u64) -> Result<Vec<QuoteCollateralV3>, CollateralError> {
        Ok(self.tdx.clone())
    }
    fn snp_vceks(&self, _report: &[u8], _now: u64) -> Result<Vec<Vec<u8>>, CollateralError> {
        Ok(self.snp_vceks.clone())
    }
}

/// Pre-loaded collateral first, then what a PCCS / the AMD KDS serves (through the disk
/// cache). Without a fetching source configured for a kind, only the pre-loaded candidates
/// are offered. A fetch failure is an error only when nothing was pre-loaded for that kind
/// (otherwise it is logged and the pre-loaded candidates are tried).
#[derive(Debug, Clone, Default)]
pub struct FetchingCollateral {
    pub offline: OfflineCollateral,
    pub pccs: Option<PccsCollateral>,
    pub kds: Option<KdsVceks>,
}

impl CollateralSource for FetchingCollateral {
    fn tdx_collateral(&self, quote: &[u8], now: u64) -> Result<Vec<QuoteCollateralV3>, CollateralError> {
        let mut out = self.offline.tdx.clone();
        if let Some(pccs) = &self.pccs {
            match pccs.collateral_for(quote, now) {
                Ok(c) => out.push(c),
                Err(e) if out.is_empty() => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "PCCS fetch failed; trying the pre-loaded TDX collateral")
                }
            }
        }
        Ok(out)
    }
    fn snp_vceks(&self, report: &[u8], now: u64) -> Result<Vec<Vec<u8>>, CollateralError> {
        let mut out = self.offline.snp_vceks.clone();
        if let Some(kds) = &self.kds {
            match kds.vcek_for(report, now) {
                Ok(c) => out.push(c),
                Err(e) if out.is_empty() => return Err(e),
                Err(e) => tracing::warn!(error = %e, "KDS fetch failed; trying the pre-loaded VCEKs"),
            }
        }
        Ok(out)
    }
}

/// A collateral failure as an evidence error: unreadable evidence is malformed; a server
/// that cannot be reached (or answers nonsense) leaves the evidence unjudged.
pub(crate) fn collateral_failure(e: CollateralError) -> EvidenceError {
    match e {
        CollateralError::Evidence(m) => EvidenceError::Malformed(m),
        e => EvidenceError::Unavailable(e.to_string()),
    }
}

/// Tries each candidate; returns the first success, or the most telling failure (a
/// report_data or policy failure says more than "wrong collateral").
pub(crate) fn first_ok<C, T>(
    candidates: Vec<C>,
    missing: &str,
    mut f: impl FnMut(&C) -> Result<T, EvidenceError>,
) -> Result<T, EvidenceError> {
    let mut best: Option<EvidenceError> = None;
    for c in &candidates {
        match f(c) {
            Ok(v) => return Ok(v),
            Err(e) => {
                if best.as_ref().is_none_or(|b| rank(&e) > rank(b)) {
                    best = Some(e);
                }
            }
        }
    }
    Err(best.unwrap_or_else(|| EvidenceError::Stale(format!("no {missing} available"))))
}

fn rank(e: &EvidenceError) -> u8 {
    match e {
        EvidenceError::Unavailable(_) | EvidenceError::Malformed(_) => 0,
        EvidenceError::Invalid(_) => 1,
        EvidenceError::Stale(_) => 2,
        EvidenceError::Foreign(_) => 3,
        EvidenceError::Policy(_) => 4,
    }
}
