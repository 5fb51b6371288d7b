//! Sends pending reports to the relayer (`POST {relayer}/v1/reports`, the version-1 JSON) and
//! marks them sent once acknowledged: any 2xx, or 409 ("already have it": the id is the
//! signing hash, so a 409 means exactly this report). Transport errors, 408, 429 and 5xx are
//! retried with exponential backoff; other 4xx mean the relayer will never take this report
//! (bad signature, policy), so it is moved to `rejected/` with the relayer's reason instead of
//! blocking the spool forever.

use crate::spool::{Spool, SpoolError};
use market_protocol::wire::ReportId;
use std::time::Duration;

/// The delay before retry number `attempt` (0-based): `initial × 2^attempt`, capped at `max`.
pub fn backoff(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    initial.saturating_mul(factor).min(max)
}

/// The relayer's answer, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Acknowledged,
    Retry(String),
    Rejected(String),
}

pub fn classify(status: u16, body: &str) -> Outcome {
    match status {
        200..=299 | 409 => Outcome::Acknowledged,
        408 | 429 | 500..=599 => Outcome::Retry(format!("HTTP {status}: {body}")),
        400..=499 => Outcome::Rejected(format!("HTTP {status}: {body}")),
        _ => Outcome::Retry(format!("unexpected HTTP {status}: {body}")),
    }
}

pub struct Sender {
    client: reqwest::Client,
    endpoint: String,
    spool: Spool,
    initial: Duration,
    max: Duration,
}

impl Sender {
    pub fn new(relayer_url: &str, spool: Spool, initial: Duration, max: Duration) -> Self {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default();
        Self {
            client,
            endpoint: format!("{}/v1/reports", relayer_url.trim_end_matches('/')),
            spool,
            initial,
            max,
        }
    }

    async fn post(&self, id: &ReportId, body: Vec<u8>) -> Outcome {
        let res = self
            .client
            .post(&self.endpoint)
            .header("content-type", "application/json")
            .header("x-report-id", id.to_string())
            .body(body)
            .send()
            .await;
        match res {
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                classify(status, text.chars().take(500).collect::<String>().as_str())
            }
            Err(e) => Outcome::Retry(format!("{}: {e}", self.endpoint)),
        }
    }

    /// One pass over the pending reports. Returns how many are still pending.
    pub async fn send_pending(&self) -> Result<usize, SpoolError> {
        let mut left = 0;
        for (id, report) in self.spool.pending()? {
            match self.post(&id, report.to_json()).await {
                Outcome::Acknowledged => {
                    self.spool.mark_sent(&id)?;
                    tracing::info!(report = %id, "relayer acknowledged report");
                }
                Outcome::Rejected(why) => {
                    tracing::error!(report = %id, reason = %why, "relayer rejected report; moved to spool/rejected");
                    self.spool.mark_rejected(&id, &why)?;
                }
                Outcome::Retry(why) => {
                    tracing::warn!(report = %id, reason = %why, "report not acknowledged, will retry");
                    left += 1;
                }
            }
        }
        Ok(left)
    }

    /// Send until stopped: after a pass that left reports pending, wait with exponential
    /// backoff; otherwise wait to be woken (new report) or poll every `max`.
    pub async fn run(self, wake: std::sync::Arc<tokio::sync::Notify>) {
        let mut attempt = 0u32;
        loop {
            let delay = match self.send_pending().await {
                Ok(0) => {
                    attempt = 0;
                    self.max
                }
                Ok(_) => {
                    let d = backoff(attempt, self.initial, self.max);
                    attempt = attempt.saturating_add(1);
                    d
                }
                Err(e) => {
                    tracing::error!(error = %e, "spool error");
                    backoff(attempt, self.initial, self.max)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = wake.notified() => { attempt = 0; }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let (i, m) = (Duration::from_millis(500), Duration::from_secs(60));
        assert_eq!(backoff(0, i, m), Duration::from_millis(500));
        assert_eq!(backoff(3, i, m), Duration::from_millis(4000));
        assert_eq!(backoff(10, i, m), m);
        assert_eq!(backoff(200, i, m), m);
    }

    #[test]
    fn classification() {
        assert_eq!(classify(200, ""), Outcome::Acknowledged);
        assert_eq!(classify(202, ""), Outcome::Acknowledged);
        assert_eq!(classify(409, "already have it"), Outcome::Acknowledged);
        assert!(matches!(classify(503, ""), Outcome::Retry(_)));
        assert!(matches!(classify(429, ""), Outcome::Retry(_)));
        assert!(
            matches!(classify(422, "bad signature"), Outcome::Rejected(r) if r.contains("bad signature"))
        );
    }
}
