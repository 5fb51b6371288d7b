//! Deploying and activating one Stylus program on a chain, with the protocol of
//! `cargo stylus deploy` 0.10.10:
//!
//! 1. `ArbWasm.codehashVersion(codehash)`: already activated (by anyone) means no data fee;
//! 2. otherwise `ArbWasm.activateProgram` through `eth_call` with state overrides (the code
//!    placed at a scratch address, a rich scratch sender) to learn the data fee;
//! 3. without a constructor: a CREATE transaction of the init code, then
//!    `activateProgram{value: fee}`; with a constructor: one call to the StylusDeployer
//!    predeploy (deploy, activate, construct), paying the fee plus 20% (it refunds the rest);
//! 4. afterwards the code hash at the new address and `codehashVersion` are checked.

use alloy::{
    network::TransactionBuilder,
    primitives::{address, keccak256, Address, Bytes, B256, U256},
    providers::{DynProvider, Provider},
    rpc::types::{
        state::{AccountOverride, StateOverride},
        TransactionReceipt, TransactionRequest,
    },
    sol,
    sol_types::SolEvent,
};

use crate::stylus;

/// The ArbWasm precompile.
pub const ARB_WASM: Address = address!("0000000000000000000000000000000000000071");
/// The StylusDeployer predeploy (same address on Arbitrum Sepolia, One and the devnet).
pub const STYLUS_DEPLOYER: Address = address!("cEcba2F1DC234f70Dd89F2041029807F8D03A990");

sol! {
    #[sol(rpc)]
    interface ArbWasm {
        function activateProgram(address program) external payable returns (uint16 version, uint256 dataFee);
        function codehashVersion(bytes32 codehash) external view returns (uint16 version);
    }

    #[sol(rpc)]
    interface StylusDeployer {
        event ContractDeployed(address deployedContract);
        function deploy(bytes calldata bytecode, bytes calldata initData, uint256 initValue, bytes32 salt) public payable returns (address);
    }
}

/// Errors of a program deployment; each names the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error("{step}: RPC error: {source}")]
    Rpc {
        step: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{step}: transaction {tx} reverted")]
    Reverted { step: &'static str, tx: B256 },
    #[error("{step}: the receipt of {tx} has no deployed address")]
    NoAddress { step: &'static str, tx: B256 },
    #[error("code at {address} has hash {found}, expected {expected}")]
    CodeHashMismatch { address: Address, expected: B256, found: B256 },
    #[error("code hash {0} is not activated after deployment")]
    NotActivated(B256),
}

fn rpc<E: std::error::Error + Send + Sync + 'static>(step: &'static str) -> impl FnOnce(E) -> ProgramError {
    move |e| ProgramError::Rpc { step, source: Box::new(e) }
}

/// A program on chain, as verified after deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployedProgram {
    pub address: Address,
    /// keccak256 of the deployed code.
    pub code_hash: B256,
    /// Stylus version the code is activated under (`codehashVersion`).
    pub stylus_version: u16,
    /// Data fee paid for activation (zero when the code was already active).
    pub data_fee: U256,
    /// The transactions sent, in order.
    pub txs: Vec<B256>,
    /// Block of the last transaction.
    pub block: u64,
}

/// The Stylus version `code_hash` is activated under, or `None` if it is not activated
/// (ArbWasm reverts `ProgramNotActivated()`, or anything else: treated as not active).
pub async fn activated_version(provider: &DynProvider, code_hash: B256) -> Option<u16> {
    ArbWasm::new(ARB_WASM, provider).codehashVersion(code_hash).call().await.ok()
}

/// The activation data fee for `code`, learned as cargo-stylus does: `activateProgram`
/// through `eth_call` with the code placed at a scratch address and a scratch sender
/// holding enough ether. Needs only an RPC endpoint, no key and no balance.
pub async fn quote_data_fee(provider: &DynProvider, code: &[u8]) -> Result<U256, ProgramError> {
    let sender = Address::repeat_byte(0x5e);
    let scratch = Address::repeat_byte(0x5f);
    let overrides = StateOverride::from_iter([
        (sender, AccountOverride::default().with_balance(U256::MAX)),
        (scratch, AccountOverride::default().with_code(Bytes::copy_from_slice(code))),
    ]);
    let quote = ArbWasm::new(ARB_WASM, provider)
        .activateProgram(scratch)
        .state(overrides)
        .from(sender)
        .value(U256::from(10).pow(U256::from(18)))
        .call()
        .await
        .map_err(rpc("quote the activation data fee"))?;
    Ok(quote.dataFee)
}

/// The fee sent with an activation: the quote plus 20%, as cargo-stylus pays (the data fee
/// can move between the quote and the transaction; the StylusDeployer refunds the excess).
pub fn fee_with_margin(quote: U256) -> U256 {
    quote * U256::from(120) / U256::from(100)
}

async fn send(
    provider: &DynProvider,
    step: &'static str,
    tx: TransactionRequest,
) -> Result<TransactionReceipt, ProgramError> {
    let pending = provider.send_transaction(tx).await.map_err(rpc(step))?;
    let receipt = pending.get_receipt().await.map_err(rpc(step))?;
    if !receipt.status() {
        return Err(ProgramError::Reverted { step, tx: receipt.transaction_hash });
    }
    Ok(receipt)
}

/// Deploys and activates `wasm`. With `constructor_args` (the ABI-encoded arguments, possibly
/// empty for a constructor without parameters) it goes through the StylusDeployer and runs
/// the constructor in the same transaction; with `None` it is a plain CREATE and
/// `activateProgram`. The provider must sign (it carries the wallet).
pub async fn deploy_program(
    provider: &DynProvider,
    wasm: &[u8],
    constructor_args: Option<&[u8]>,
) -> Result<DeployedProgram, ProgramError> {
    let code = stylus::program_code(wasm);
    let code_hash = keccak256(&code);
    let already_active = activated_version(provider, code_hash).await.is_some();
    let fee = if already_active { U256::ZERO } else { quote_data_fee(provider, &code).await? };
    let initcode = stylus::deploy_initcode(&code);
    let mut txs = Vec::new();

    let (address, block) = match constructor_args {
        Some(args) => {
            let call = StylusDeployer::new(STYLUS_DEPLOYER, provider)
                .deploy_call(initcode, stylus::constructor_calldata(args), U256::ZERO, B256::ZERO)
                .value(if fee.is_zero() { U256::ZERO } else { fee_with_margin(fee) })
                .into_transaction_request();
            let r = send(provider, "deploy through the StylusDeployer", call).await?;
            txs.push(r.transaction_hash);
            let address = r
                .inner
                .logs()
                .iter()
                .filter(|l| l.address() == STYLUS_DEPLOYER)
                .find_map(|l| StylusDeployer::ContractDeployed::decode_log_data(l.data()).ok())
                .map(|e| e.deployedContract)
                .ok_or(ProgramError::NoAddress {
                    step: "deploy through the StylusDeployer",
                    tx: r.transaction_hash,
                })?;
            (address, r.block_number.unwrap_or_default())
        }
        None => {
            let tx = TransactionRequest::default().with_deploy_code(initcode);
            let r = send(provider, "CREATE the program", tx).await?;
            txs.push(r.transaction_hash);
            let address = r
                .contract_address
                .ok_or(ProgramError::NoAddress { step: "CREATE the program", tx: r.transaction_hash })?;
            let mut block = r.block_number.unwrap_or_default();
            if !already_active {
                let call = ArbWasm::new(ARB_WASM, provider)
                    .activateProgram(address)
                    .value(fee_with_margin(fee))
                    .into_transaction_request();
                let r = send(provider, "activateProgram", call).await?;
                txs.push(r.transaction_hash);
                block = r.block_number.unwrap_or(block);
            }
            (address, block)
        }
    };

    let found = verify_code(provider, address).await?;
    if found != code_hash {
        return Err(ProgramError::CodeHashMismatch { address, expected: code_hash, found });
    }
    let stylus_version =
        activated_version(provider, code_hash).await.ok_or(ProgramError::NotActivated(code_hash))?;
    Ok(DeployedProgram { address, code_hash, stylus_version, data_fee: fee, txs, block })
}

/// keccak256 of the code at `address` (the hash of empty code when there is none).
pub async fn verify_code(provider: &DynProvider, address: Address) -> Result<B256, ProgramError> {
    let code = provider.get_code_at(address).await.map_err(rpc("read the deployed code"))?;
    Ok(keccak256(&code))
}
