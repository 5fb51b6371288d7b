//! AMD SEV-SNP attestation report verification with the sev crate, then the relayer's policy.
//!
//! The sev crate verifies ARK -> ASK -> VCEK and the VCEK's signature over the report. It
//! checks signatures only: guest policy bits, measurement, TCB and report_data are checked
//! here. The VCEK travels with the evidence (it is signed by AMD's ASK, so transport does not
//! need to be trusted); the ARK/ASK are the ones built into the sev crate for the product.

use serde::Deserialize;
use sev::certs::snp::{builtin, ca, Certificate, Chain, Verifiable};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;

use market_protocol::evidence::SNP_REPORT_LEN;
use market_protocol::EvidenceIdentity;

use super::{EvidenceError, Hex48};

/// AMD EPYC generations whose ARK/ASK the relayer pins (built into the sev crate).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum AmdProduct {
    Milan,
    Genoa,
    Turin,
}

/// Which SNP guests a hardware class accepts.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SnpPolicy {
    /// Products whose AMD root (ARK/ASK) may have signed the VCEK.
    pub products: Vec<AmdProduct>,
    /// Accepted launch measurements; an empty list accepts none.
    pub allowed_measurements: Vec<Hex48>,
    /// Lowest acceptable reported TCB (the one the VCEK was derived for), per component.
    pub min_tcb: SnpTcb,
    /// A debuggable guest can be read by the host: rejected unless set.
    #[serde(default)]
    pub allow_debug: bool,
    /// A migration agent can move the guest's memory elsewhere: rejected unless set.
    #[serde(default)]
    pub allow_migration_agent: bool,
    /// SMT (hyper-threading) widens side channels; some classes may forbid it.
    #[serde(default = "default_true")]
    pub allow_smt: bool,
    /// The report must be requested from this VMPL (0 = the guest kernel itself) or lower.
    #[serde(default)]
    pub max_vmpl: u32,
}

fn default_true() -> bool {
    true
}

/// SVNs of the TCB components, compared one by one (all must be >= the minimum).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SnpTcb {
    pub bootloader: u8,
    pub tee: u8,
    pub snp: u8,
    pub microcode: u8,
}

// Guest policy bits (SEV-SNP ABI spec, table "Guest Policy Structure").
const POLICY_SMT: u64 = 1 << 16;
const POLICY_MIGRATE_MA: u64 = 1 << 18;
const POLICY_DEBUG: u64 = 1 << 19;
/// Offset of the little-endian u64 guest policy in the raw report.
const POLICY_OFFSET: usize = 0x08;

/// Verifies a raw SNP attestation report (1184 bytes) signed by `vcek_der`, then applies
/// `policy` and checks that all 64 bytes of report_data equal `expected_report_data`.
/// Bytes after the 1184-byte report (configfs may return more) are not part of the report.
pub fn verify_snp(
    policy: &SnpPolicy,
    raw_report: &[u8],
    vcek_der: &[u8],
    expected_report_data: &[u8; 64],
) -> Result<EvidenceIdentity, EvidenceError> {
    let raw_report = raw_report
        .get(..SNP_REPORT_LEN)
        .ok_or_else(|| EvidenceError::Malformed(format!("SNP report is {} bytes", raw_report.len())))?;
    let report = AttestationReport::from_bytes(raw_report)
        .map_err(|e| EvidenceError::Malformed(format!("SNP report: {e}")))?;
    // The sev crate verifies the signature over its own re-encoding of the parsed report;
    // insisting that the re-encoding is byte-identical makes every input byte count.
    let reencoded =
        report.to_bytes().map_err(|e| EvidenceError::Malformed(format!("SNP report re-encoding: {e}")))?;
    if reencoded.as_ref() != raw_report {
        return Err(EvidenceError::Malformed("SNP report is not in canonical form".into()));
    }
    // The sev crate reads only the low 48 bytes of each 72-byte signature component; the rest of
    // the signature area must be zero, or the same signature could be sent in many encodings.
    if !signature_padding_is_zero(raw_report) {
        return Err(EvidenceError::Malformed("SNP signature has non-zero padding".into()));
    }
    let vcek = Certificate::from_der(vcek_der).map_err(|e| EvidenceError::Malformed(format!("VCEK: {e}")))?;
    let mut last_err = String::from("no AMD product configured");
    let signed = policy.products.iter().any(|product| match amd_chain(*product, vcek.clone()) {
        Ok(chain) => match (&chain, &report).verify() {
            Ok(()) => true,
            Err(e) => {
                last_err = format!("{product:?}: {e}");
                false
            }
        },
        Err(e) => {
            last_err = format!("{product:?} roots: {e}");
            false
        }
    });
    if !signed {
        return Err(EvidenceError::Invalid(format!("SNP signature chain: {last_err}")));
    }

    if report.report_data != *expected_report_data {
        return Err(EvidenceError::Foreign(format!(
            "SNP report_data {} is not the expected {}",
            hex::encode(report.report_data),
            hex::encode(expected_report_data)
        )));
    }
    let mut bits = [0u8; 8];
    bits.copy_from_slice(&raw_report[POLICY_OFFSET..POLICY_OFFSET + 8]);
    let guest_policy = u64::from_le_bytes(bits);
    if guest_policy & POLICY_DEBUG != 0 && !policy.allow_debug {
        return Err(EvidenceError::Policy("SNP guest policy allows debugging".into()));
    }
    if guest_policy & POLICY_MIGRATE_MA != 0 && !policy.allow_migration_agent {
        return Err(EvidenceError::Policy("SNP guest policy allows a migration agent".into()));
    }
    if guest_policy & POLICY_SMT != 0 && !policy.allow_smt {
        return Err(EvidenceError::Policy("SNP guest policy allows SMT".into()));
    }
    if report.vmpl > policy.max_vmpl {
        return Err(EvidenceError::Policy(format!(
            "SNP report requested from VMPL {} (max {})",
            report.vmpl, policy.max_vmpl
        )));
    }
    let tcb = &report.reported_tcb;
    let reported_tcb =
        SnpTcb { bootloader: tcb.bootloader, tee: tcb.tee, snp: tcb.snp, microcode: tcb.microcode };
    let min = &policy.min_tcb;
    if reported_tcb.bootloader < min.bootloader
        || reported_tcb.tee < min.tee
        || reported_tcb.snp < min.snp
        || reported_tcb.microcode < min.microcode
    {
        return Err(EvidenceError::Policy(format!(
            "SNP reported TCB {reported_tcb:?} is below the minimum {min:?}"
        )));
    }
    if !policy.allowed_measurements.iter().any(|m| m.0 == report.measurement) {
        return Err(EvidenceError::Policy(format!(
            "SNP measurement {} is not in the allow-list",
            hex::encode(report.measurement)
        )));
    }
    Ok(EvidenceIdentity::SevSnp { measurement: report.measurement, chip_id: report.chip_id })
}

/// Signature area: R (72 bytes, little-endian, 48 significant), S (likewise), then reserved.
const SIGNATURE_OFFSET: usize = 0x2A0;
const SIG_COMPONENT_LEN: usize = 72;
const P384_SCALAR_LEN: usize = 48;

fn signature_padding_is_zero(raw: &[u8]) -> bool {
    let r_pad = SIGNATURE_OFFSET + P384_SCALAR_LEN..SIGNATURE_OFFSET + SIG_COMPONENT_LEN;
    let s_pad_and_reserved = SIGNATURE_OFFSET + SIG_COMPONENT_LEN + P384_SCALAR_LEN..SNP_REPORT_LEN;
    raw[r_pad].iter().chain(&raw[s_pad_and_reserved]).all(|b| *b == 0)
}

fn amd_chain(product: AmdProduct, vek: Certificate) -> std::io::Result<Chain> {
    let (ark, ask) = match product {
        AmdProduct::Milan => (builtin::milan::ark()?, builtin::milan::ask()?),
        AmdProduct::Genoa => (builtin::genoa::ark()?, builtin::genoa::ask()?),
        AmdProduct::Turin => (builtin::turin::ark()?, builtin::turin::ask()?),
    };
    Ok(Chain { ca: ca::Chain { ark, ask }, vek })
}
