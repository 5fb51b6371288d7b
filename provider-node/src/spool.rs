//! The durable spool of signed reports: a report is on disk (write temp, fsync, atomic
//! rename, fsync the directory) before the first attempt to send it, and it stays in
//! `pending/` until a relayer acknowledges it. File names are the report id (= EIP-712
//! signing hash), so the same report can only ever exist once and is always resent under the
//! same id.
//!
//! Layout under `<data_dir>/spool/`: `tmp/` (partial writes, ignored), `pending/<id>.json`,
//! `sent/<id>.json`, `rejected/<id>.json` + `<id>.reason` (a relayer refused it for good).

use market_protocol::wire::{ReportId, SignedReport};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("spool file {path} is not a valid report: {problem}")]
    Corrupt { path: PathBuf, problem: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io { path: path.to_path_buf(), source }
}

/// Where a report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Sent,
    Rejected,
}

#[derive(Debug, Clone)]
pub struct Spool {
    root: PathBuf,
}

impl Spool {
    pub fn open(data_dir: &Path) -> Result<Self, SpoolError> {
        let root = data_dir.join("spool");
        for d in ["tmp", "pending", "sent", "rejected"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io(&p))?;
        }
        Ok(Self { root })
    }

    fn path(&self, state: State, id: &ReportId) -> PathBuf {
        let dir = match state {
            State::Pending => "pending",
            State::Sent => "sent",
            State::Rejected => "rejected",
        };
        self.root.join(dir).join(format!("{id}.json"))
    }

    /// Where `id` is, if anywhere.
    pub fn state(&self, id: &ReportId) -> Option<State> {
        [State::Pending, State::Sent, State::Rejected].into_iter().find(|s| self.path(*s, id).exists())
    }

    /// Durably store a signed report as pending. Storing a report that is already in the spool
    /// (any state) is a no-op: same report, same id.
    pub fn put(&self, report: &SignedReport) -> Result<ReportId, SpoolError> {
        let id = report.id();
        if self.state(&id).is_some() {
            return Ok(id);
        }
        let tmp = self.root.join("tmp").join(format!("{id}.json.tmp"));
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&report.to_json()).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        let dest = self.path(State::Pending, &id);
        fs::rename(&tmp, &dest).map_err(io(&dest))?;
        sync_dir(&self.root.join("pending"))?;
        Ok(id)
    }

    /// Pending reports, oldest id-file first (by modification time, then id).
    pub fn pending(&self) -> Result<Vec<(ReportId, SignedReport)>, SpoolError> {
        let dir = self.root.join("pending");
        let mut items = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let mtime = entry.metadata().and_then(|m| m.modified()).map_err(io(&path))?;
            let report = read_report(&path)?;
            items.push((mtime, report.id(), report));
        }
        items.sort_by_key(|a| (a.0, a.1));
        Ok(items.into_iter().map(|(_, id, r)| (id, r)).collect())
    }

    /// Every report in the spool in any state (for `status` and duplicate checks).
    pub fn all(&self) -> Result<Vec<(State, SignedReport)>, SpoolError> {
        let mut out = Vec::new();
        for (state, dir) in
            [(State::Pending, "pending"), (State::Sent, "sent"), (State::Rejected, "rejected")]
        {
            let dir = self.root.join(dir);
            for entry in fs::read_dir(&dir).map_err(io(&dir))? {
                let path = entry.map_err(io(&dir))?.path();
                if path.extension().and_then(|e| e.to_str()) == Some("json") {
                    out.push((state, read_report(&path)?));
                }
            }
        }
        Ok(out)
    }

    pub fn read(&self, state: State, id: &ReportId) -> Result<SignedReport, SpoolError> {
        read_report(&self.path(state, id))
    }

    /// The relayer acknowledged `id`: move it to `sent/`.
    pub fn mark_sent(&self, id: &ReportId) -> Result<(), SpoolError> {
        self.move_to(id, State::Sent)
    }

    /// The relayer refused `id` for good: move it to `rejected/` with the reason beside it.
    pub fn mark_rejected(&self, id: &ReportId, reason: &str) -> Result<(), SpoolError> {
        let why = self.root.join("rejected").join(format!("{id}.reason"));
        fs::write(&why, reason).map_err(io(&why))?;
        self.move_to(id, State::Rejected)
    }

    fn move_to(&self, id: &ReportId, state: State) -> Result<(), SpoolError> {
        let from = self.path(State::Pending, id);
        let to = self.path(state, id);
        fs::rename(&from, &to).map_err(io(&from))?;
        sync_dir(to.parent().unwrap_or(&self.root))?;
        sync_dir(&self.root.join("pending"))
    }
}

fn read_report(path: &Path) -> Result<SignedReport, SpoolError> {
    let bytes = fs::read(path).map_err(io(path))?;
    SignedReport::from_json(&bytes)
        .map_err(|e| SpoolError::Corrupt { path: path.to_path_buf(), problem: e.to_string() })
}

/// fsync a directory so a rename inside it survives a power cut.
fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloy::primitives::{Address, B256, U256};
    use alloy::signers::local::PrivateKeySigner;
    use market_protocol::{Evidence, MarketDomain, UsageReport};

    pub(crate) fn report(job: u64) -> SignedReport {
        let key = PrivateKeySigner::from_bytes(&B256::repeat_byte(7)).unwrap();
        let domain = MarketDomain::new(412346, Address::repeat_byte(0x5f));
        let r = UsageReport {
            jobId: U256::from(job),
            provider: key.address(),
            endTs: 10,
            gpuSeconds: 5,
            ..Default::default()
        };
        let signature = r.sign(&domain, &key).unwrap();
        SignedReport { domain, report: r, signature, evidence: vec![Evidence::none()] }
    }

    #[test]
    fn put_is_idempotent_and_states_move() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let a = report(1);
        let id = spool.put(&a).unwrap();
        assert_eq!(spool.put(&a).unwrap(), id);
        assert_eq!(spool.pending().unwrap().len(), 1);
        assert_eq!(spool.state(&id), Some(State::Pending));
        assert_eq!(spool.read(State::Pending, &id).unwrap(), a);
        spool.mark_sent(&id).unwrap();
        assert_eq!(spool.state(&id), Some(State::Sent));
        assert!(spool.pending().unwrap().is_empty());
        // re-putting a sent report does not resurrect it
        spool.put(&a).unwrap();
        assert!(spool.pending().unwrap().is_empty());
        let b = report(2);
        let idb = spool.put(&b).unwrap();
        spool.mark_rejected(&idb, "bad evidence").unwrap();
        assert_eq!(spool.state(&idb), Some(State::Rejected));
        assert_eq!(spool.all().unwrap().len(), 2);
    }

    #[test]
    fn partial_writes_are_ignored_and_corrupt_files_named() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("spool/tmp/x.json.tmp"), b"{").unwrap();
        assert!(spool.pending().unwrap().is_empty());
        std::fs::write(dir.path().join("spool/pending/bad.json"), b"{").unwrap();
        let e = spool.pending().unwrap_err().to_string();
        assert!(e.contains("bad.json"), "{e}");
    }
}
