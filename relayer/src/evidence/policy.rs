//! Per-hardware-class evidence policy, read from TOML.
//!
//! A class lists the evidence kinds it requires (e.g. a TDX CPU *and* an H100 in CC mode) and
//! one section per kind it accepts. `none` (the simulated meter) is accepted only where
//! `allow_none = true`, which only the devnet's policy sets.

use market_protocol::EvidenceKind;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::nvidia::NVIDIA_DEVICE_IDENTITY_ROOT_PEM;
use super::snp::SnpPolicy;
use super::tdx::TdxPolicy;

/// What one hardware class accepts as evidence.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClassPolicy {
    /// Kinds that must all be present and verify (e.g. `["tdx", "nvidia-cc"]`).
    #[serde(default, deserialize_with = "kinds_from_names")]
    pub required: Vec<EvidenceKind>,
    /// Accept the simulated meter's `none` evidence (devnet only).
    #[serde(default)]
    pub allow_none: bool,
    pub tdx: Option<TdxPolicy>,
    pub sev_snp: Option<SnpPolicy>,
    pub nvidia_cc: Option<NvidiaPolicy>,
}

/// NVIDIA CC: the pinned root is NVIDIA's device identity CA unless overridden (tests, or a
/// future root rotation).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NvidiaPolicy {
    #[serde(default = "default_nvidia_root")]
    pub root_pem: String,
}

impl Default for NvidiaPolicy {
    fn default() -> Self {
        NvidiaPolicy { root_pem: default_nvidia_root() }
    }
}

fn default_nvidia_root() -> String {
    NVIDIA_DEVICE_IDENTITY_ROOT_PEM.to_string()
}

/// A policy file that names itself invalid is refused at load time, not at the first report.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("policy requires {0} but has no section for it")]
    MissingSection(EvidenceKind),
    #[error("policy requires `none` but allow_none is false")]
    NoneRequiredButNotAllowed,
    #[error("policy accepts no evidence at all")]
    AcceptsNothing,
}

fn kinds_from_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EvidenceKind>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    names.iter().map(|n| n.parse::<EvidenceKind>().map_err(D::Error::custom)).collect()
}

impl ClassPolicy {
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let policy: ClassPolicy = toml::from_str(text)?;
        policy.validate()?;
        Ok(policy)
    }

    /// Whether evidence of `kind` may appear at all.
    pub fn accepts(&self, kind: EvidenceKind) -> bool {
        match kind {
            EvidenceKind::Tdx => self.tdx.is_some(),
            EvidenceKind::SevSnp => self.sev_snp.is_some(),
            EvidenceKind::NvidiaCc => self.nvidia_cc.is_some(),
            EvidenceKind::None => self.allow_none,
        }
    }

    pub fn validate(&self) -> Result<(), PolicyError> {
        for kind in &self.required {
            if *kind == EvidenceKind::None && !self.allow_none {
                return Err(PolicyError::NoneRequiredButNotAllowed);
            }
            if !self.accepts(*kind) {
                return Err(PolicyError::MissingSection(*kind));
            }
        }
        let any = [EvidenceKind::Tdx, EvidenceKind::SevSnp, EvidenceKind::NvidiaCc, EvidenceKind::None]
            .into_iter()
            .any(|k| self.accepts(k));
        if !any {
            return Err(PolicyError::AcceptsNothing);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devnet_policy_accepts_none_only() {
        let p = ClassPolicy::from_toml("allow_none = true").unwrap();
        assert!(p.accepts(EvidenceKind::None));
        assert!(!p.accepts(EvidenceKind::Tdx));
    }

    #[test]
    fn production_policy_parses_all_sections() {
        let p = ClassPolicy::from_toml(
            r#"
            required = ["tdx", "nvidia-cc"]
            [tdx]
            allowed_tcb_statuses = ["UpToDate"]
            allowed_measurements = [{ mrtd = "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000a" }]
            [nvidia_cc]
            "#,
        )
        .unwrap();
        assert!(!p.allow_none);
        assert_eq!(p.required, vec![EvidenceKind::Tdx, EvidenceKind::NvidiaCc]);
        assert_eq!(p.tdx.as_ref().unwrap().allowed_measurements[0].mrtd.0[47], 0x0a);
        assert_eq!(p.nvidia_cc.unwrap().root_pem, NVIDIA_DEVICE_IDENTITY_ROOT_PEM);
    }

    #[test]
    fn required_kind_without_section_is_refused() {
        let err = ClassPolicy::from_toml(r#"required = ["sev-snp"]"#).unwrap_err();
        assert!(matches!(err, PolicyError::MissingSection(EvidenceKind::SevSnp)), "{err}");
    }

    #[test]
    fn empty_policy_is_refused() {
        assert!(matches!(ClassPolicy::from_toml("").unwrap_err(), PolicyError::AcceptsNothing));
    }

    #[test]
    fn bad_measurement_length_names_the_problem() {
        let err = ClassPolicy::from_toml(
            r#"
            [tdx]
            allowed_tcb_statuses = ["UpToDate"]
            allowed_measurements = [{ mrtd = "abcd" }]
            "#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("expected 48 bytes"), "{err}");
    }
}
