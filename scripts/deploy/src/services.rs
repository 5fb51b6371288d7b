//! Child processes of the run command: started in their own process group (so the
//! terminal's Ctrl-C reaches only the run command, which then stops them in order), asked to
//! stop with SIGTERM, killed if they do not stop in time.

use std::{path::Path, process::Stdio, time::Duration};

use tokio::process::{Child, Command};

/// A started service.
pub struct Service {
    pub name: String,
    child: Child,
}

impl Service {
    /// Starts `program` with `args` in `dir`. With `log`, its output goes to that file
    /// (created or truncated); otherwise it is inherited.
    pub fn start(
        name: &str,
        program: &Path,
        args: &[String],
        dir: &Path,
        env: &[(String, String)],
        log: Option<&Path>,
    ) -> std::io::Result<Self> {
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(dir).kill_on_drop(true).stdin(Stdio::null());
        if let Some(log) = log {
            let file = std::fs::File::create(log)?;
            cmd.stdout(file.try_clone()?).stderr(file);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        #[cfg(unix)]
        cmd.process_group(0);
        Ok(Service { name: name.to_owned(), child: cmd.spawn()? })
    }

    /// `Some(status)` once the service has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM to the service's process group, then SIGKILL after `grace`.
    pub async fn stop(mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        if let Some(s) = self.exited() {
            return Some(s);
        }
        #[cfg(unix)]
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on the group this service leads; no memory is touched.
            unsafe {
                libc::kill(-(pid as i32), libc::SIGTERM);
            }
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(s) => s.ok(),
            Err(_) => {
                let _ = self.child.kill().await;
                self.child.wait().await.ok()
            }
        }
    }
}
