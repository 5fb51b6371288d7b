//! The devnet demo market the run command sets up after deploying: a provider with stake
//! in the vault, registered for the H100 class with the simulated meter's evidence digest,
//! H100 seconds minted, an H100s/USDC pool with liquidity, and a buyer holding USDC. Every
//! step checks the chain first, so seeding twice does not double anything.

use alloy::{
    primitives::{keccak256, Address, B256, U256},
    providers::{DynProvider, Provider},
    signers::local::PrivateKeySigner,
};

use crate::{network, record::Deployment};

// Generated bindings of 7+-argument functions (listClass, addLiquidity).
#[allow(clippy::too_many_arguments)]
mod bindings {
    use alloy::sol;
    sol! {
        #[sol(rpc)]
        interface ISeedErc20 {
            function mint(address to, uint256 value) external;
            function approve(address spender, uint256 value) external returns (bool);
            function balanceOf(address account) external view returns (uint256);
        }
        #[sol(rpc)]
        interface ISeedVault {
            function deposit(uint256 amount, address operator) external returns (uint256);
            function operatorStake(address operator) external view returns (uint256, uint256, uint256);
        }
        #[sol(rpc)]
        interface ISeedRegistry {
            function registerProvider(bytes32 classId, address signingKey, bytes32 evidenceDigest, bytes32[] memory gpuUuidHashes) external;
            function providerInfo(bytes32 classId, address provider) external view returns (bool, address, bytes32, uint64);
        }
        #[sol(rpc)]
        interface ISeedMarket {
            function mint(bytes32 classId, uint256 gpuSeconds) external;
            function obligations(bytes32 classId, address provider) external view returns (uint256, uint256);
        }
        #[sol(rpc)]
        interface ISeedAmm {
            function addLiquidity(uint256 poolId, uint256 amount0Desired, uint256 amount1Desired, uint256 amount0Min, uint256 amount1Min, address to, uint256 deadline) external returns (uint256, uint256, uint256);
            function getReserves(uint256 poolId) external view returns (uint256, uint256, uint64);
        }
    }
}
use bindings::*;

/// Sizes of the demo market.
#[derive(Clone, Debug)]
pub struct SeedPlan {
    /// Class to seed (its name, e.g. `H100-SXM5-80GB`).
    pub class: String,
    /// Collateral the provider stakes (base units, 18 decimals).
    pub stake: U256,
    /// GPU-seconds minted.
    pub minted_seconds: U256,
    /// GPU-seconds and stablecoin (6 decimals) put in the pool.
    pub pool_seconds: U256,
    pub pool_stable: U256,
    /// Stablecoin given to the buyer.
    pub buyer_stable: U256,
}

impl Default for SeedPlan {
    fn default() -> Self {
        let e18 = U256::from(10).pow(U256::from(18));
        SeedPlan {
            class: "H100-SXM5-80GB".into(),
            stake: U256::from(1_000) * e18,
            minted_seconds: U256::from(36_000),
            // 30,000 s against 18 USDC: 0.0006 USDC per H100-second, about $2.16 an hour.
            pool_seconds: U256::from(30_000),
            pool_stable: U256::from(18_000_000),
            buyer_stable: U256::from(1_000_000_000),
        }
    }
}

/// What the demo market ended up with.
#[derive(Clone, Debug)]
pub struct Seeded {
    pub provider: Address,
    pub buyer: Address,
    pub class_id: B256,
    pub token: Address,
    pub gpu_uuid_hash: B256,
    pub evidence_digest: B256,
    /// `None` when the AMM is not deployed.
    pub pool_id: Option<B256>,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("the deployment has no `{0}`")]
    Missing(String),
    #[error("seeding, {step}: {source}")]
    Call {
        step: &'static str,
        #[source]
        source: Box<alloy::contract::Error>,
    },
    #[error("seeding, {step}: transaction reverted")]
    Reverted { step: &'static str },
    #[error(transparent)]
    Network(#[from] network::NetworkError),
}

/// The evidence digest of a provider with only the simulated meter (kind NONE = 8):
/// `keccak256(keccak256(0x08 ‖ provider))` (fixed interface 3).
pub fn simulated_evidence_digest(provider: Address) -> B256 {
    let mut pre = vec![8u8];
    pre.extend_from_slice(provider.as_slice());
    keccak256(keccak256(pre))
}

/// The UUID hash of the provider node's first simulated GPU, `keccak256("GPU-SIMULATED-0000")`
/// (`provider-node`'s `SimulatedMeter::uuid(0)`), so that the node's reports name a GPU the
/// registry knows. Simulated UUIDs are the same on every node: one simulated provider per
/// chain (the registry gives a GPU hash one owner).
pub fn simulated_gpu_uuid_hash() -> B256 {
    keccak256("GPU-SIMULATED-0000")
}

/// Seeds the demo market. `provider` and `buyer` sign their own transactions.
pub async fn seed(
    url: &str,
    record: &Deployment,
    plan: &SeedPlan,
    provider_key: PrivateKeySigner,
    buyer_key: PrivateKeySigner,
    log: &(dyn Fn(String) + Sync),
) -> Result<Seeded, SeedError> {
    let need = |k: &str| record.address(k).ok_or_else(|| SeedError::Missing(k.into()));
    let class = record
        .classes
        .iter()
        .find(|c| c.name == plan.class)
        .ok_or_else(|| SeedError::Missing(plan.class.clone()))?;
    // No pool when the AMM is not deployed (see `amm` in the config).
    let pool = record.pools.iter().find(|p| p.class == plan.class);
    let (stable, collateral, vault, registry, market) =
        (need("stablecoin")?, need("collateral")?, need("vault")?, need("registry")?, need("market")?);
    let me = provider_key.address();
    let buyer = buyer_key.address();
    let p: DynProvider = network::signing_provider(url, provider_key)?;
    let b: DynProvider = network::signing_provider(url, buyer_key)?;

    macro_rules! send {
        ($step:literal, $call:expr) => {{
            let r = $call
                .send()
                .await
                .map_err(|source| SeedError::Call { step: $step, source: Box::new(source) })?
                .get_receipt()
                .await
                .map_err(|e| SeedError::Call { step: $step, source: Box::new(e.into()) })?;
            if !r.status() {
                return Err(SeedError::Reverted { step: $step });
            }
            log(format!("seed: {}", $step));
        }};
    }
    macro_rules! view {
        ($step:literal, $call:expr) => {
            $call.call().await.map_err(|source| SeedError::Call { step: $step, source: Box::new(source) })?
        };
    }

    let v = ISeedVault::new(vault, &p);
    let (active, _, _) = view!("read the provider's stake", v.operatorStake(me)).into();
    if active < plan.stake {
        let lrt = ISeedErc20::new(collateral, &p);
        let missing = plan.stake - active;
        send!("collateral faucet to the provider", lrt.mint(me, missing));
        send!("approve the vault", lrt.approve(vault, missing));
        send!("stake in the vault", v.deposit(missing, me));
    }

    let gpu = simulated_gpu_uuid_hash();
    let digest = simulated_evidence_digest(me);
    let reg = ISeedRegistry::new(registry, &p);
    if !view!("read the provider's registration", reg.providerInfo(class.class_id, me))._0 {
        send!(
            "register the provider (simulated meter)",
            reg.registerProvider(class.class_id, me, digest, vec![gpu])
        );
    }

    let m = ISeedMarket::new(market, &p);
    let (minted, _) = view!("read obligations", m.obligations(class.class_id, me)).into();
    if minted < plan.minted_seconds {
        send!("mint GPU-seconds", m.mint(class.class_id, plan.minted_seconds - minted));
    }

    if let (Some(pool), Some(amm)) = (pool, record.address("amm")) {
        let a = ISeedAmm::new(amm, &p);
        let id = U256::from_be_bytes(pool.pool_id.0);
        let (r0, r1, _) = view!("read the pool's reserves", a.getReserves(id)).into();
        if r0.is_zero() && r1.is_zero() {
            let usdc = ISeedErc20::new(stable, &p);
            send!("stablecoin faucet to the provider", usdc.mint(me, plan.pool_stable));
            send!("approve the AMM (stablecoin)", usdc.approve(amm, U256::MAX));
            send!("approve the AMM (GPU-seconds)", ISeedErc20::new(class.token, &p).approve(amm, U256::MAX));
            let (a0, a1) = if class.token < stable {
                (plan.pool_seconds, plan.pool_stable)
            } else {
                (plan.pool_stable, plan.pool_seconds)
            };
            let now = p
                .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
                .await
                .ok()
                .flatten()
                .map(|blk| blk.header.timestamp)
                .unwrap_or_default();
            send!(
                "add liquidity",
                a.addLiquidity(id, a0, a1, U256::ZERO, U256::ZERO, me, U256::from(now + 3600))
            );
        }
    }

    let usdc = ISeedErc20::new(stable, &b);
    if view!("read the buyer's balance", usdc.balanceOf(buyer)) < plan.buyer_stable {
        send!("stablecoin faucet to the buyer", usdc.mint(buyer, plan.buyer_stable));
    }
    Ok(Seeded {
        provider: me,
        buyer,
        class_id: class.class_id,
        token: class.token,
        gpu_uuid_hash: gpu,
        evidence_digest: digest,
        pool_id: pool.map(|p| p.pool_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_digest_follows_the_fixed_definition() {
        let provider = Address::repeat_byte(0xab);
        let identity = keccak256([&[8u8][..], provider.as_slice()].concat());
        assert_eq!(simulated_evidence_digest(provider), keccak256(identity.as_slice()));
        assert_ne!(simulated_evidence_digest(provider), simulated_evidence_digest(Address::ZERO));
    }
}
