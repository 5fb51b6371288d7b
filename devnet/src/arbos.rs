//! The ArbSys (0x...64) and ArbOwnerPublic (0x...6b) precompiles, as far as cargo-stylus,
//! alloy, cast and the project's contracts use them: read-only chain information. Functions
//! that need an L1 (withdrawals, L2 -> L1 messages) or chain-owner rights revert with a
//! clear `Error(string)`.

use alloy_sol_types::{sol, SolCall, SolError, SolValue};
use revm::{
    context::{Block as _, ContextTr, JournalTr},
    interpreter::{CallInputs, CallOutcome, Host as _, InstructionResult},
    primitives::{address, Address, Bytes, U256},
};

use crate::{
    evm::Ctx,
    stylus::{enter, outcome},
};

/// Address of ArbSys.
pub const ARB_SYS: Address = address!("0000000000000000000000000000000000000064");
/// Address of ArbOwnerPublic.
pub const ARB_OWNER_PUBLIC: Address = address!("000000000000000000000000000000000000006b");
/// The ArbOS version this chain reports. Stylus version 2 (what ArbWasm activates at) came
/// with ArbOS 40; ArbOS 60's fragmented contracts are not supported.
pub const ARBOS_VERSION: u64 = 40;
/// `ArbSys.arbOSVersion()` adds 55 (the last classic-Arbitrum version) to the ArbOS version.
pub const ARBOS_VERSION_OFFSET: u64 = 55;
/// The chain owner: the nitro dev node's funded account (account 0 of the devnet).
pub const CHAIN_OWNER: Address = address!("3f1Eae7D46d88F08fc2F8ed27FCb2AB183EB2d0E");
/// The L1 -> L2 address alias offset.
pub const ALIAS_OFFSET: Address = address!("1111000000000000000000000000000000001111");
/// Gas charged for a view call into these precompiles.
const VIEW_GAS: u64 = 800;

sol! {
    interface ArbSys {
        function arbBlockNumber() external view returns (uint256);
        function arbBlockHash(uint256 arbBlockNum) external view returns (bytes32);
        function arbChainID() external view returns (uint256);
        function arbOSVersion() external view returns (uint256);
        function getStorageGasAvailable() external view returns (uint256);
        function isTopLevelCall() external view returns (bool);
        function mapL1SenderContractAddressToL2Alias(address sender, address unused) external pure returns (address);
        function wasMyCallersAddressAliased() external view returns (bool);
        function myCallersAddressWithoutAliasing() external view returns (address);
        function withdrawEth(address destination) external payable returns (uint256);
        function sendTxToL1(address destination, bytes calldata data) external payable returns (uint256);
        error InvalidBlockNumber(uint256 requested, uint256 current);
    }

    interface ArbOwnerPublic {
        function isChainOwner(address addr) external view returns (bool);
        function getAllChainOwners() external view returns (address[] memory);
        function getNetworkFeeAccount() external view returns (address);
        function getInfraFeeAccount() external view returns (address);
        function getBrotliCompressionLevel() external view returns (uint64);
        function getScheduledUpgrade() external view returns (uint64 arbosVersion, uint64 scheduledForTimestamp);
        function isCalldataPriceIncreaseEnabled() external view returns (bool);
        function getMaxStylusContractFragments() external view returns (uint8);
        function rectifyChainOwner(address ownerToRectify) external;
    }
}

fn error_string(msg: &str) -> Bytes {
    alloy_sol_types::Revert::from(msg).abi_encode().into()
}

/// True when `address` is one of the precompiles this module serves.
pub fn handles(address: Address) -> bool {
    address == ARB_SYS || address == ARB_OWNER_PUBLIC
}

/// Handles one call frame addressed to ArbSys or ArbOwnerPublic.
pub(crate) fn call(ctx: &mut Ctx, inputs: &CallInputs) -> CallOutcome {
    // Depth of the caller's frame: 0 or 1 means the transaction's own frame called us.
    let top_level = ctx.journal().depth() <= 1;
    let checkpoint = match enter(ctx, inputs) {
        Ok(c) => c,
        Err(out) => return *out,
    };
    let data = Bytes::copy_from_slice(&inputs.input.as_bytes(ctx));
    let result = if inputs.bytecode_address == ARB_SYS {
        arb_sys(ctx, &data, top_level)
    } else {
        arb_owner_public(&data)
    };
    match result {
        Ok(out) if VIEW_GAS <= inputs.gas_limit => {
            ctx.journal_mut().checkpoint_commit();
            outcome(inputs, InstructionResult::Return, out, VIEW_GAS, 0)
        }
        Ok(_) => {
            ctx.journal_mut().checkpoint_revert(checkpoint);
            outcome(inputs, InstructionResult::OutOfGas, Bytes::new(), inputs.gas_limit, 0)
        }
        Err(revert) => {
            ctx.journal_mut().checkpoint_revert(checkpoint);
            outcome(inputs, InstructionResult::Revert, revert, VIEW_GAS.min(inputs.gas_limit), 0)
        }
    }
}

fn selector(data: &[u8]) -> Result<[u8; 4], Bytes> {
    data.get(..4).map(|s| s.try_into().expect("4 bytes")).ok_or_else(Bytes::new)
}

fn arb_sys(ctx: &mut Ctx, data: &[u8], top_level: bool) -> Result<Bytes, Bytes> {
    use ArbSys as S;
    let current = ctx.block().number();
    Ok(match selector(data)? {
        S::arbBlockNumberCall::SELECTOR => current.abi_encode().into(),
        S::arbChainIDCall::SELECTOR => U256::from(ctx.cfg().chain_id).abi_encode().into(),
        S::arbOSVersionCall::SELECTOR => U256::from(ARBOS_VERSION + ARBOS_VERSION_OFFSET).abi_encode().into(),
        S::getStorageGasAvailableCall::SELECTOR => U256::ZERO.abi_encode().into(),
        S::isTopLevelCallCall::SELECTOR => top_level.abi_encode().into(),
        S::wasMyCallersAddressAliasedCall::SELECTOR => false.abi_encode().into(),
        S::arbBlockHashCall::SELECTOR => {
            let call = S::arbBlockHashCall::abi_decode(data).map_err(|_| Bytes::new())?;
            let n = call.arbBlockNum;
            if n >= current || current - n > U256::from(256) {
                return Err(S::InvalidBlockNumber { requested: n, current }.abi_encode().into());
            }
            ctx.block_hash(n.saturating_to()).unwrap_or_default().abi_encode().into()
        }
        S::mapL1SenderContractAddressToL2AliasCall::SELECTOR => {
            let call =
                S::mapL1SenderContractAddressToL2AliasCall::abi_decode(data).map_err(|_| Bytes::new())?;
            let sum = U256::from_be_slice(call.sender.as_slice())
                .wrapping_add(U256::from_be_slice(ALIAS_OFFSET.as_slice()));
            Address::from_word(sum.to_be_bytes::<32>().into()).abi_encode().into()
        }
        S::withdrawEthCall::SELECTOR | S::sendTxToL1Call::SELECTOR => {
            return Err(error_string(
                "ArbSys: the devnet has no L1 (withdrawals and L2->L1 messages are not supported)",
            ))
        }
        _ => return Err(Bytes::new()),
    })
}

fn arb_owner_public(data: &[u8]) -> Result<Bytes, Bytes> {
    use ArbOwnerPublic as O;
    Ok(match selector(data)? {
        O::isChainOwnerCall::SELECTOR => {
            let call = O::isChainOwnerCall::abi_decode(data).map_err(|_| Bytes::new())?;
            (call.addr == CHAIN_OWNER).abi_encode().into()
        }
        O::getAllChainOwnersCall::SELECTOR => {
            O::getAllChainOwnersCall::abi_encode_returns(&vec![CHAIN_OWNER]).into()
        }
        O::getNetworkFeeAccountCall::SELECTOR | O::getInfraFeeAccountCall::SELECTOR => {
            CHAIN_OWNER.abi_encode().into()
        }
        O::getBrotliCompressionLevelCall::SELECTOR => 1u64.abi_encode().into(),
        O::getScheduledUpgradeCall::SELECTOR => (0u64, 0u64).abi_encode_params().into(),
        O::isCalldataPriceIncreaseEnabledCall::SELECTOR => false.abi_encode().into(),
        // Fragmented (ArbOS 60) contracts are not supported: no fragments allowed.
        O::getMaxStylusContractFragmentsCall::SELECTOR => U256::ZERO.abi_encode().into(),
        O::rectifyChainOwnerCall::SELECTOR => {
            return Err(error_string("ArbOwnerPublic: rectifyChainOwner is not supported on the devnet"))
        }
        _ => return Err(Bytes::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_owner_is_the_nitro_dev_account() {
        let key = crate::accounts::NITRO_DEV_KEY.parse().unwrap();
        assert_eq!(crate::accounts::address_of(&key), CHAIN_OWNER);
    }
}
