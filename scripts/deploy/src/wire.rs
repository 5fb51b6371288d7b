//! Executes the wiring table against a chain. Every step reads the chain first and sends
//! nothing when it is already done, which is what makes a re-run cheap and safe.

use alloy::{
    primitives::{Address, U256},
    providers::DynProvider,
};

use crate::{
    config::{Config, Network},
    plan::{pool_id, role_id, Wire},
};

// Generated bindings of 7+-argument functions (listClass, addLiquidity).
#[allow(clippy::too_many_arguments)]
mod bindings {
    use alloy::sol;
    sol! {
        #[sol(rpc)]
        interface IMinterAdmin {
            function minter() external view returns (address);
            function setMinter(address minter) external;
        }
        #[sol(rpc)]
        interface IRoles {
            function hasRole(bytes32 role, address account) external view returns (bool);
            function setRole(bytes32 role, address account, bool enabled) external;
        }
        #[sol(rpc)]
        interface IClassRegistry {
            function listClass(bytes32 classId, address token, uint256 collateralPerSecond, uint64 acceptWindow, uint64 maxReportDelay, uint8 evidenceKinds, uint256 minStake) external;
            function classInfo(bytes32 classId) external view returns (address, uint256, uint64, uint64, uint8, uint256, bool, uint256);
            function setRelayer(address relayer, bool authorised) external;
            function isRelayer(address relayer) external view returns (bool);
        }
        #[sol(rpc)]
        interface ISettlers {
            function isSettler(address account) external view returns (bool);
            function setSettler(address settler, bool enabled) external;
        }
        #[sol(rpc)]
        interface IPoolFactory {
            function createPool(address tokenA, address tokenB, uint16 fee) external returns (uint256);
            function getPool(uint256 poolId) external view returns (address, address, uint16);
            function observationState(uint256 poolId) external view returns (uint16, uint16, uint16);
            function increaseObservationCardinality(uint256 poolId, uint16 cardinality) external;
        }
        #[sol(rpc)]
        interface IEnforcementSetup {
            function setClassPricing(bytes32 classId, uint256 poolId, bool classIsToken0, uint32 twapWindow, uint256 collateralPerStable) external;
            function classPricing(bytes32 classId) external view returns (uint256, bool, uint32, uint256);
            function setDisputeConfig(address resolver, uint64 window, uint256 bond) external;
            function config() external view returns (address, address, address, address, address, address, address, uint64, uint256);
            function owner() external view returns (address);
        }
    }
}
use bindings::*;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{step}: no address for `{key}` in this deployment")]
    Unknown { step: String, key: String },
    #[error("{step}: {source}")]
    Call {
        step: String,
        #[source]
        source: Box<alloy::contract::Error>,
    },
    #[error("{step}: transaction reverted")]
    Reverted { step: String },
    #[error("{step}: {problem}")]
    Conflict { step: String, problem: String },
}

/// What a step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    AlreadyDone,
    Sent,
}

/// Runs one wiring step; `addr` resolves deployment keys to addresses.
pub async fn run(
    provider: &DynProvider,
    config: &Config,
    network: &Network,
    addr: &dyn Fn(&str) -> Option<Address>,
    step: &Wire,
) -> Result<Outcome, WireError> {
    let name = step.to_string();
    let need =
        |key: &str| addr(key).ok_or_else(|| WireError::Unknown { step: name.clone(), key: key.into() });
    let call_err = |source| WireError::Call { step: name.clone(), source: Box::new(source) };
    macro_rules! send {
        ($call:expr) => {{
            let receipt = $call
                .send()
                .await
                .map_err(call_err)?
                .get_receipt()
                .await
                .map_err(|e| call_err(alloy::contract::Error::from(e)))?;
            if !receipt.status() {
                return Err(WireError::Reverted { step: name.clone() });
            }
            Ok(Outcome::Sent)
        }};
    }
    match step {
        Wire::SetMinter { token, minter } => {
            let (token, minter) = (need(token)?, need(minter)?);
            let t = IMinterAdmin::new(token, provider);
            let current = t.minter().call().await.map_err(call_err)?;
            if current == minter {
                return Ok(Outcome::AlreadyDone);
            }
            if !current.is_zero() {
                return Err(WireError::Conflict {
                    step: name.clone(),
                    problem: format!(
                        "the minter is already {current} and can be set only once: redeploy the token"
                    ),
                });
            }
            send!(t.setMinter(minter))
        }
        Wire::GrantRole { contract, role, account } => {
            let (contract, account) = (need(contract)?, need(account)?);
            let c = IRoles::new(contract, provider);
            if c.hasRole(role_id(role), account).call().await.map_err(call_err)? {
                return Ok(Outcome::AlreadyDone);
            }
            send!(c.setRole(role_id(role), account, true))
        }
        Wire::ListClass { index } => {
            let class = &config.classes[*index];
            let token = need(&crate::plan::token_key(class))?;
            let r = IClassRegistry::new(need("registry")?, provider);
            let info = r.classInfo(class.class_id()).call().await.map_err(call_err)?;
            if info._0 == token {
                return Ok(Outcome::AlreadyDone);
            }
            if !info._0.is_zero() {
                return Err(WireError::Conflict {
                    step: name.clone(),
                    problem: format!("{} is listed with token {}, not {token}", class.name, info._0),
                });
            }
            send!(r.listClass(
                class.class_id(),
                token,
                class.collateral_per_second,
                class.accept_window,
                class.max_report_delay,
                network.evidence_mask(class),
                class.min_stake,
            ))
        }
        Wire::SetSettler { settler } => {
            let settler = need(settler)?;
            let m = ISettlers::new(need("market")?, provider);
            if m.isSettler(settler).call().await.map_err(call_err)? {
                return Ok(Outcome::AlreadyDone);
            }
            send!(m.setSettler(settler, true))
        }
        Wire::SetRelayer { relayer } => {
            let r = IClassRegistry::new(need("registry")?, provider);
            if r.isRelayer(*relayer).call().await.map_err(call_err)? {
                return Ok(Outcome::AlreadyDone);
            }
            send!(r.setRelayer(*relayer, true))
        }
        Wire::CreatePool { token, quote, fee } => {
            let (token, quote) = (need(token)?, need(quote)?);
            let amm = IPoolFactory::new(need("amm")?, provider);
            let id = U256::from_be_bytes(pool_id(token, quote, *fee).0);
            let pool = amm.getPool(id).call().await.map_err(call_err)?;
            if !pool._0.is_zero() {
                return Ok(Outcome::AlreadyDone);
            }
            send!(amm.createPool(token, quote, *fee))
        }
        Wire::GrowOracle { index, cardinality } => {
            let (token, quote) =
                (need(&crate::plan::token_key(&config.classes[*index]))?, need("stablecoin")?);
            let amm = IPoolFactory::new(need("amm")?, provider);
            let id = U256::from_be_bytes(pool_id(token, quote, config.pool_fee_bps).0);
            let state = amm.observationState(id).call().await.map_err(call_err)?;
            if state._2 >= *cardinality {
                return Ok(Outcome::AlreadyDone);
            }
            send!(amm.increaseObservationCardinality(id, *cardinality))
        }
        Wire::SetClassPricing { index } => {
            let class = &config.classes[*index];
            let (token, quote) = (need(&crate::plan::token_key(class))?, need("stablecoin")?);
            let id = U256::from_be_bytes(pool_id(token, quote, config.pool_fee_bps).0);
            // UQ112x112, as the contract takes it.
            let rate = network.collateral_per_stable << 112;
            let e = IEnforcementSetup::new(need("enforcement")?, provider);
            let current = e.classPricing(class.class_id()).call().await.map_err(call_err)?;
            let want = (id, token < quote, config.twap_window, rate);
            if (current._0, current._1, current._2, current._3) == want {
                return Ok(Outcome::AlreadyDone);
            }
            send!(e.setClassPricing(class.class_id(), want.0, want.1, want.2, want.3))
        }
        Wire::SetDisputeConfig => {
            let e = IEnforcementSetup::new(need("enforcement")?, provider);
            let resolver = e.owner().call().await.map_err(call_err)?;
            let c = e.config().call().await.map_err(call_err)?;
            if (c._6, c._7, c._8) == (resolver, config.dispute_window, config.dispute_bond) {
                return Ok(Outcome::AlreadyDone);
            }
            send!(e.setDisputeConfig(resolver, config.dispute_window, config.dispute_bond))
        }
    }
}
