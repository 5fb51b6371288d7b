//! Who may sign reports for a job: the job's class and provider (from the market) and the
//! provider's registered signing key and evidence digest (from the registry).
//!
//! Behind a trait so the HTTP pipeline is tested without a chain; the registry-backed
//! implementation reads `market.job` and `registry.providerInfo` through alloy and caches
//! answers for a configured time, so a key rotation is picked up after at most that long.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy::providers::DynProvider;
use alloy_primitives::{Address, B256, U256};
use market_protocol::bindings::{Market, Registry};

/// What the relayer needs to know about a (job, provider) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderRecord {
    /// `keccak256(class name)` of the job's hardware class.
    pub class_id: B256,
    /// The job's provider (zero: the job does not exist).
    pub job_provider: Address,
    /// The key that must have signed the report.
    pub signing_key: Address,
    /// The digest of the provider's registered hardware identity.
    pub evidence_digest: B256,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DirectoryError {
    /// The chain could not be asked (RPC down): a temporary failure, not a verdict.
    #[error("provider lookup failed: {0}")]
    Unavailable(String),
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Looks up a provider for a job. `Ok(None)`: no such job, or the provider is not registered
/// in the job's class.
pub trait ProviderDirectory: Send + Sync {
    fn lookup(
        &self,
        job_id: U256,
        provider: Address,
    ) -> BoxFuture<'_, Result<Option<ProviderRecord>, DirectoryError>>;
}

/// A fixed table (tests, and a devnet without a registry): every job is in `class_id`.
#[derive(Debug, Default, Clone)]
pub struct StaticDirectory {
    pub providers: HashMap<Address, ProviderRecord>,
}

impl ProviderDirectory for StaticDirectory {
    fn lookup(
        &self,
        _job_id: U256,
        provider: Address,
    ) -> BoxFuture<'_, Result<Option<ProviderRecord>, DirectoryError>> {
        let r = self.providers.get(&provider).copied();
        Box::pin(async move { Ok(r) })
    }
}

/// Cached answers by (job, provider), with when they were fetched.
type Cache = HashMap<(U256, Address), (Instant, Option<ProviderRecord>)>;

/// Reads the market and the registry over JSON-RPC, with a time-bounded cache.
pub struct RegistryDirectory {
    provider: DynProvider,
    market: Address,
    registry: Address,
    ttl: Duration,
    cache: Mutex<Cache>,
}

impl RegistryDirectory {
    pub fn new(provider: DynProvider, market: Address, registry: Address, ttl: Duration) -> Self {
        RegistryDirectory { provider, market, registry, ttl, cache: Mutex::new(HashMap::new()) }
    }

    fn cached(&self, key: &(U256, Address)) -> Option<Option<ProviderRecord>> {
        let cache = self.cache.lock().ok()?;
        let (at, rec) = cache.get(key)?;
        (at.elapsed() < self.ttl).then_some(*rec)
    }

    async fn fetch(&self, job_id: U256, provider: Address) -> Result<Option<ProviderRecord>, DirectoryError> {
        let unavailable = |e: alloy::contract::Error| DirectoryError::Unavailable(e.to_string());
        let market = Market::new(self.market, self.provider.clone());
        let job = market.job(job_id).call().await.map_err(unavailable)?;
        let (job_provider, class_id) = (job._1, job._2);
        if class_id == B256::ZERO {
            return Ok(None);
        }
        let registry = Registry::new(self.registry, self.provider.clone());
        let info = registry.providerInfo(class_id, provider).call().await.map_err(unavailable)?;
        if !info._0 {
            return Ok(None);
        }
        Ok(Some(ProviderRecord { class_id, job_provider, signing_key: info._1, evidence_digest: info._2 }))
    }
}

impl ProviderDirectory for RegistryDirectory {
    fn lookup(
        &self,
        job_id: U256,
        provider: Address,
    ) -> BoxFuture<'_, Result<Option<ProviderRecord>, DirectoryError>> {
        Box::pin(async move {
            let key = (job_id, provider);
            if let Some(hit) = self.cached(&key) {
                return Ok(hit);
            }
            let rec = self.fetch(job_id, provider).await?;
            if let Ok(mut cache) = self.cache.lock() {
                cache.insert(key, (Instant::now(), rec));
            }
            Ok(rec)
        })
    }
}
