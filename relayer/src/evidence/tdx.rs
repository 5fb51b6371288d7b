//! Intel TDX quote verification (DCAP) with dcap-qvl, then the relayer's own policy.
//!
//! dcap-qvl checks the quote's signature chain up to Intel's SGX root CA, the collateral's
//! signatures and validity at `now`, and matches the platform's TCB level. It does not judge
//! the TCB status nor look at the TD's measurements or report_data: that is done here.

use dcap_qvl::quote::Report;
use dcap_qvl::QuoteCollateralV3;
use market_protocol::EvidenceIdentity;
use serde::Deserialize;

use super::{EvidenceError, Hex48};

/// Which TDs a hardware class accepts.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TdxPolicy {
    /// TCB statuses accepted as reported by Intel's TCB info (e.g. "UpToDate",
    /// "SWHardeningNeeded"). Anything else (OutOfDate, Revoked, ...) is rejected.
    pub allowed_tcb_statuses: Vec<String>,
    /// Accepted TD images. A quote must match one entry; an empty list accepts none.
    pub allowed_measurements: Vec<TdxMeasurement>,
    /// Debug TDs expose their memory to the host: never accepted unless set.
    #[serde(default)]
    pub allow_debug: bool,
}

/// One accepted TD image: MRTD and, where given, the runtime measurement registers.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TdxMeasurement {
    pub mrtd: Hex48,
    /// RTMR0..3; `None` leaves that register unconstrained (e.g. RTMR3 extended at runtime).
    #[serde(default)]
    pub rtmr: [Option<Hex48>; 4],
}

/// TD attribute bit 0: the TD is debuggable.
const TD_ATTRIBUTE_DEBUG: u8 = 0x01;

/// Verifies a TDX quote against its collateral at `now_secs`, then applies `policy` and checks
/// that all 64 bytes of report_data equal `expected_report_data`
/// (`market_protocol::evidence::report_data_for(signing_hash)`).
pub fn verify_tdx(
    policy: &TdxPolicy,
    quote: &[u8],
    collateral: &QuoteCollateralV3,
    expected_report_data: &[u8; 64],
    now_secs: u64,
) -> Result<EvidenceIdentity, EvidenceError> {
    let verified = dcap_qvl::verify::verify(quote, collateral, now_secs).map_err(|e| {
        let msg = format!("{e:#}");
        if is_staleness(&msg) {
            EvidenceError::Stale(format!("TDX collateral: {msg}"))
        } else {
            EvidenceError::Invalid(format!("TDX quote: {msg}"))
        }
    })?;
    let td = match &verified.report {
        Report::TD10(r) => r,
        Report::TD15(r) => &r.base,
        Report::TD15Ex(r) => &r.base.base,
        Report::SgxEnclave(_) => return Err(EvidenceError::Invalid("quote is SGX, not TDX".into())),
    };
    if td.report_data != *expected_report_data {
        return Err(EvidenceError::Foreign(format!(
            "TDX report_data {} is not the expected {}",
            hex::encode(td.report_data),
            hex::encode(expected_report_data)
        )));
    }
    if !policy.allowed_tcb_statuses.iter().any(|s| s == &verified.status) {
        return Err(EvidenceError::Policy(format!("TDX TCB status {} is not allowed", verified.status)));
    }
    if td.td_attributes[0] & TD_ATTRIBUTE_DEBUG != 0 && !policy.allow_debug {
        return Err(EvidenceError::Policy("TDX TD is in debug mode".into()));
    }
    let mrtd = td.mr_td;
    let rtmr = [td.rt_mr0, td.rt_mr1, td.rt_mr2, td.rt_mr3];
    if !policy.allowed_measurements.iter().any(|m| measurement_matches(m, &mrtd, &rtmr)) {
        return Err(EvidenceError::Policy(format!(
            "TDX MRTD {} (with its RTMRs) is not in the allow-list",
            hex::encode(mrtd)
        )));
    }
    Ok(EvidenceIdentity::Tdx { mrtd, rtmr })
}

fn measurement_matches(allowed: &TdxMeasurement, mrtd: &[u8; 48], rtmr: &[[u8; 48]; 4]) -> bool {
    allowed.mrtd.0 == *mrtd
        && allowed.rtmr.iter().zip(rtmr).all(|(want, got)| want.as_ref().is_none_or(|w| &w.0 == got))
}

/// dcap-qvl reports expired or not-yet-valid collateral as plain messages; those are
/// "stale evidence" to the caller (the provider must refresh), not forged evidence.
fn is_staleness(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("expired") || m.contains("not yet valid") || m.contains("not valid yet")
}
