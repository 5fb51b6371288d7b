//! TDX / SEV-SNP guest evidence through the kernel's configfs-tsm interface
//! (`/sys/kernel/config/tsm/report`): make an entry directory, write the 64-byte `inblob`
//! (our report_data: the report's signing hash followed by 32 zero bytes), read `outblob`
//! (the TDX quote or SNP attestation report) and `provider` (`tdx_guest` / `sev_guest`), and
//! check `generation` did not move under us (another writer on the same entry).

use super::{CollectError, Collector};
use crate::meter::GpuInfo;
use alloy::primitives::B256;
use market_protocol::evidence::{self, Evidence, EvidenceKind};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ConfigfsTsm {
    dir: PathBuf,
    expect: Option<EvidenceKind>,
}

impl ConfigfsTsm {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir, expect: None }
    }

    pub fn expecting(&self, kind: EvidenceKind) -> Self {
        Self { dir: self.dir.clone(), expect: Some(kind) }
    }

    fn entry(&self) -> PathBuf {
        self.dir.join(format!("provider-node-{}", std::process::id()))
    }

    fn unavailable(&self, kind: EvidenceKind, problem: String) -> CollectError {
        CollectError::Unavailable { kind, problem }
    }

    fn race(&self, kind: EvidenceKind, entry: &Path) -> CollectError {
        CollectError::Bad {
            kind,
            problem: format!("another writer used {} at the same time (generation moved)", entry.display()),
        }
    }

    fn kind_of_provider(p: &str) -> Option<EvidenceKind> {
        match p.trim() {
            "tdx_guest" => Some(EvidenceKind::Tdx),
            "sev_guest" => Some(EvidenceKind::SevSnp),
            _ => None,
        }
    }

    /// Which TEE this guest has, from the `provider` attribute of an entry.
    pub fn detect(&self) -> Result<EvidenceKind, CollectError> {
        let kind = self.expect.unwrap_or(EvidenceKind::Tdx);
        if !self.dir.is_dir() {
            return Err(self.unavailable(
                kind,
                format!(
                    "configfs-tsm not found at {} (not a TDX/SEV-SNP guest, or configfs not mounted)",
                    self.dir.display()
                ),
            ));
        }
        let entry = self.ensure_entry(kind)?;
        let provider = read_text(&entry.join("provider")).map_err(|e| self.unavailable(kind, e))?;
        Self::kind_of_provider(&provider).ok_or_else(|| {
            self.unavailable(kind, format!("unsupported configfs-tsm provider {:?}", provider.trim()))
        })
    }

    fn ensure_entry(&self, kind: EvidenceKind) -> Result<PathBuf, CollectError> {
        let entry = self.entry();
        if !entry.is_dir() {
            std::fs::create_dir(&entry)
                .map_err(|e| self.unavailable(kind, format!("creating {}: {e}", entry.display())))?;
        }
        Ok(entry)
    }
}

fn read_text(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()))
}

impl Collector for ConfigfsTsm {
    fn kind(&self) -> EvidenceKind {
        self.expect.unwrap_or(EvidenceKind::Tdx)
    }

    fn collect(&self, signing_hash: B256, _gpu: &GpuInfo) -> Result<Evidence, CollectError> {
        let kind = self.kind();
        if !self.dir.is_dir() {
            return Err(self.unavailable(
                kind,
                format!(
                    "configfs-tsm not found at {} (not a TDX/SEV-SNP guest, or configfs not mounted)",
                    self.dir.display()
                ),
            ));
        }
        let entry = self.ensure_entry(kind)?;
        let provider = read_text(&entry.join("provider")).map_err(|e| self.unavailable(kind, e))?;
        match Self::kind_of_provider(&provider) {
            Some(k) if k == kind => {}
            other => {
                return Err(self.unavailable(
                    kind,
                    format!(
                        "configfs-tsm provider is {:?} ({:?}), not {kind}",
                        provider.trim(),
                        other.map(|k| k.as_str())
                    ),
                ))
            }
        }
        let gen_path = entry.join("generation");
        let read_gen = || std::fs::read_to_string(&gen_path).ok().and_then(|g| g.trim().parse::<u64>().ok());
        let gen_before = read_gen();
        let report_data = evidence::report_data_for(signing_hash);
        std::fs::write(entry.join("inblob"), report_data)
            .map_err(|e| self.unavailable(kind, format!("writing {}/inblob: {e}", entry.display())))?;
        let read_out = || {
            std::fs::read(entry.join("outblob"))
                .map_err(|e| self.unavailable(kind, format!("reading {}/outblob: {e}", entry.display())))
        };
        // `generation` counts writes to the entry: after our write it must be exactly one more
        // than before, both before and after reading outblob, or another writer raced us. The
        // kernel updates it synchronously; wait briefly in case an implementation does not.
        let out = match gen_before {
            None => read_out()?,
            Some(b) => {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
                loop {
                    match read_gen() {
                        Some(g) if g == b + 1 => {
                            let out = read_out()?;
                            if read_gen() != Some(b + 1) {
                                return Err(self.race(kind, &entry));
                            }
                            break out;
                        }
                        Some(g) if g > b + 1 => return Err(self.race(kind, &entry)),
                        _ if std::time::Instant::now() > deadline => {
                            return Err(CollectError::Bad {
                                kind,
                                problem: format!(
                                    "{}/generation did not advance after writing inblob",
                                    entry.display()
                                ),
                            })
                        }
                        _ => std::thread::sleep(std::time::Duration::from_millis(2)),
                    }
                }
            }
        };
        let got = match kind {
            EvidenceKind::Tdx => evidence::tdx_report_data(&out),
            _ => evidence::snp_report_data(&out),
        }
        .map_err(|e| CollectError::Bad { kind, problem: e.to_string() })?;
        if got != report_data {
            return Err(CollectError::Bad {
                kind,
                problem: "outblob's report_data is not the report's signing hash".into(),
            });
        }
        Ok(Evidence { kind, data: out, cert_chain: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use market_protocol::evidence::{EvidenceIdentity, SNP_REPORT_LEN, TDX_QUOTE_MIN_LEN};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// A stand-in for the kernel: whenever `inblob` changes, writes an `outblob` quote that
    /// embeds it at the format's report_data offset, and bumps `generation`.
    fn fake_kernel(
        entry: PathBuf,
        kind: EvidenceKind,
        stop: Arc<AtomicBool>,
        tamper: bool,
    ) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let mut last: Option<std::time::SystemTime> = None;
            let mut gen = 0u64;
            while !stop.load(Ordering::Acquire) {
                let mtime = std::fs::metadata(entry.join("inblob")).and_then(|m| m.modified()).ok();
                if let (Some(m), Ok(inb)) = (mtime, std::fs::read(entry.join("inblob"))) {
                    if last != Some(m) && inb.len() == 64 {
                        let (mut q, off) = match kind {
                            EvidenceKind::Tdx => {
                                // v4 quote header: version 4, tee_type 0x81 (TDX)
                                let mut q = vec![0x11u8; TDX_QUOTE_MIN_LEN + 64];
                                q[0..2].copy_from_slice(&4u16.to_le_bytes());
                                q[4..8].copy_from_slice(&0x81u32.to_le_bytes());
                                (q, 48 + 520)
                            }
                            _ => (vec![0x22u8; SNP_REPORT_LEN], 0x50),
                        };
                        q[off..off + 64].copy_from_slice(&inb);
                        if tamper {
                            q[off] ^= 1;
                        }
                        gen += 1;
                        std::fs::write(entry.join("outblob"), &q).unwrap();
                        std::fs::write(entry.join("generation"), format!("{gen}\n")).unwrap();
                        last = Some(m);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    }

    fn setup(kind_name: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join(format!("provider-node-{}", std::process::id()));
        std::fs::create_dir(&entry).unwrap();
        std::fs::write(entry.join("provider"), format!("{kind_name}\n")).unwrap();
        std::fs::write(entry.join("generation"), "0\n").unwrap();
        (dir, entry)
    }

    fn collect_now(c: &ConfigfsTsm, h: B256) -> Result<Evidence, CollectError> {
        c.collect(h, &GpuInfo { index: 0, uuid: String::new(), name: String::new() })
    }

    #[test]
    fn tdx_quote_commits_to_the_signing_hash() {
        let (dir, entry) = setup("tdx_guest");
        let stop = Arc::new(AtomicBool::new(false));
        let k = fake_kernel(entry.clone(), EvidenceKind::Tdx, stop.clone(), false);
        let c = ConfigfsTsm::new(dir.path().to_path_buf());
        assert_eq!(c.detect().unwrap(), EvidenceKind::Tdx);
        let c = c.expecting(EvidenceKind::Tdx);
        let h = B256::repeat_byte(0xAB);
        let ev = collect_now(&c, h).unwrap();
        assert_eq!(std::fs::read(entry.join("inblob")).unwrap(), evidence::report_data_for(h));
        assert_eq!(evidence::tdx_report_data(&ev.data).unwrap(), evidence::report_data_for(h));
        assert!(matches!(
            EvidenceIdentity::from_evidence(&ev, Default::default()).unwrap(),
            EvidenceIdentity::Tdx { .. }
        ));
        stop.store(true, Ordering::Release);
        k.join().unwrap();
    }

    #[test]
    fn snp_and_wrong_report_data_is_refused() {
        let (dir, entry) = setup("sev_guest");
        let stop = Arc::new(AtomicBool::new(false));
        let k = fake_kernel(entry, EvidenceKind::SevSnp, stop.clone(), true);
        let c = ConfigfsTsm::new(dir.path().to_path_buf()).expecting(EvidenceKind::SevSnp);
        let e = collect_now(&c, B256::repeat_byte(1)).unwrap_err();
        assert!(e.to_string().contains("not the report's signing hash"), "{e}");
        stop.store(true, Ordering::Release);
        k.join().unwrap();
    }

    #[test]
    fn absent_or_wrong_provider_is_a_clear_error() {
        let c = ConfigfsTsm::new(PathBuf::from("/nonexistent/tsm/report")).expecting(EvidenceKind::Tdx);
        let e = c
            .collect(B256::ZERO, &GpuInfo { index: 0, uuid: String::new(), name: String::new() })
            .unwrap_err();
        assert!(e.to_string().contains("configfs-tsm not found at /nonexistent/tsm/report"), "{e}");
        let (dir, _entry) = setup("sev_guest");
        let c = ConfigfsTsm::new(dir.path().to_path_buf()).expecting(EvidenceKind::Tdx);
        let e = c
            .collect(B256::ZERO, &GpuInfo { index: 0, uuid: String::new(), name: String::new() })
            .unwrap_err();
        assert!(e.to_string().contains("sev_guest"), "{e}");
    }
}
