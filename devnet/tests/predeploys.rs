//! Genesis contracts (CREATE2 factory, StylusDeployer) and the ArbSys / ArbOwnerPublic
//! precompiles, exercised the way cargo-stylus and alloy use them.

mod common;

use alloy::{
    network::TransactionBuilder,
    primitives::{address, keccak256, Address, Bytes, B256, U256},
    providers::Provider,
    rpc::types::{
        state::{AccountOverride, StateOverride},
        TransactionRequest,
    },
    sol,
    sol_types::{SolError, SolEvent, SolValue},
};
use common::*;
use devnet::predeploys::{CREATE2_FACTORY, CREATE2_FACTORY_DEPLOYER, STYLUS_DEPLOYER};

sol! {
    #[sol(rpc)]
    interface ArbSys {
        function arbBlockNumber() external view returns (uint256);
        function arbBlockHash(uint256 arbBlockNum) external view returns (bytes32);
        function arbChainID() external view returns (uint256);
        function arbOSVersion() external view returns (uint256);
        function isTopLevelCall() external view returns (bool);
        function mapL1SenderContractAddressToL2Alias(address sender, address unused) external pure returns (address);
        function withdrawEth(address destination) external payable returns (uint256);
        error InvalidBlockNumber(uint256 requested, uint256 current);
    }

    #[sol(rpc)]
    interface ArbOwnerPublic {
        function isChainOwner(address addr) external view returns (bool);
        function getAllChainOwners() external view returns (address[] memory);
        function getMaxStylusContractFragments() external view returns (uint8);
        function getScheduledUpgrade() external view returns (uint64 arbosVersion, uint64 scheduledForTimestamp);
    }

    #[sol(rpc)]
    interface ArbWasm {
        function activateProgram(address program) external payable returns (uint16 version, uint256 dataFee);
        function codehashVersion(bytes32 codehash) external view returns (uint16 version);
    }

    // The StylusDeployer's interface, as stylus-tools 0.10.10 declares it.
    #[sol(rpc)]
    interface StylusDeployer {
        event ContractDeployed(address deployedContract);
        function deploy(bytes calldata bytecode, bytes calldata initData, uint256 initValue, bytes32 salt) public payable returns (address);
        function requiresActivation(address addr) public view returns (bool);
        function initSalt(bytes32 salt, bytes calldata initData) public pure returns (bytes32);
    }

    #[sol(rpc)]
    interface IComputeToken {
        function name() external view returns (string memory);
        function admin() external view returns (address);
        function classId() external view returns (bytes32);
    }
}

const ARB_SYS: Address = address!("0000000000000000000000000000000000000064");
const ARB_OWNER_PUBLIC: Address = address!("000000000000000000000000000000000000006b");
const ARB_WASM: Address = address!("0000000000000000000000000000000000000071");
const NITRO_OWNER: Address = address!("3f1Eae7D46d88F08fc2F8ed27FCb2AB183EB2d0E");

/// The CREATE2 factory's runtime code, as its raw deployment transaction produces it.
const FACTORY_RUNTIME: &str = "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3";

/// cargo-stylus's deployment prelude (stylus-tools `DeploymentCalldata::new`): PUSH32 len,
/// DUP1, PUSH1 43, PUSH1 0, CODECOPY, PUSH1 0, RETURN, version byte 0, then the code.
fn cargo_stylus_initcode(code: &[u8]) -> Bytes {
    let mut out = vec![0x7f];
    out.extend(U256::from(code.len()).to_be_bytes::<32>());
    out.extend([0x80, 0x60, 43, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3, 0x00]);
    out.extend(code);
    out.into()
}

fn constructor_init_data(admin: Address) -> Bytes {
    let selector = &keccak256("stylus_constructor()")[..4];
    let args = (
        String::from("H100 seconds"),
        String::from("H100s"),
        keccak256("H100-SXM5-80GB"),
        String::from("H100-SXM5-80GB"),
        admin,
    )
        .abi_encode_params();
    [selector, &args[..]].concat().into()
}

#[tokio::test]
async fn genesis_contracts_are_where_tools_expect_them() {
    let dn = start().await;
    let p = provider(&dn, 0);
    let factory = p.get_code_at(CREATE2_FACTORY).await.unwrap();
    assert_eq!(alloy::hex::encode(&factory), FACTORY_RUNTIME);
    // The factory's deployer used nonce 0 for it, exactly as on every other chain.
    assert_eq!(CREATE2_FACTORY_DEPLOYER.create(0), CREATE2_FACTORY);
    let deployer = p.get_code_at(STYLUS_DEPLOYER).await.unwrap();
    assert_eq!(deployer.len(), 2269, "the nitro dev node's StylusDeployer is 2269 bytes");
    // Nothing was mined for it, and the dev accounts are untouched.
    assert_eq!(p.get_block_number().await.unwrap(), 0);
    assert_eq!(p.get_transaction_count(NITRO_OWNER).await.unwrap(), 0);
    // Precompiles have marker code, so extcodesize checks pass.
    for a in [ARB_SYS, ARB_OWNER_PUBLIC, ARB_WASM] {
        assert_eq!(p.get_code_at(a).await.unwrap().as_ref(), &[0xfe]);
    }

    // The factory deploys with CREATE2: salt || initcode, returns the address.
    let runtime = [0x60, 0x2a, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3]; // returns 42
    let init = deploy_prelude(&runtime);
    let salt = B256::repeat_byte(7);
    let input: Bytes = [salt.as_slice(), &init[..]].concat().into();
    let want = CREATE2_FACTORY.create2(salt, keccak256(&init));
    let out = p
        .call(TransactionRequest::default().with_to(CREATE2_FACTORY).with_input(input.clone()))
        .await
        .unwrap();
    assert_eq!(&out[..], want.as_slice());
    let r = p
        .send_transaction(TransactionRequest::default().with_to(CREATE2_FACTORY).with_input(input))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status());
    assert_eq!(p.get_code_at(want).await.unwrap().as_ref(), &runtime);
}

#[tokio::test]
async fn arbsys_and_arbownerpublic() {
    let dn = start().await;
    let p = provider(&dn, 0);
    for _ in 0..3 {
        p.raw_request::<_, String>("evm_mine".into(), ()).await.unwrap();
    }
    let sys = ArbSys::new(ARB_SYS, p.clone());
    assert_eq!(sys.arbChainID().call().await.unwrap(), U256::from(CHAIN_ID));
    assert_eq!(sys.arbOSVersion().call().await.unwrap(), U256::from(55 + 40));
    // eth_call runs in the block after the head.
    assert_eq!(sys.arbBlockNumber().call().await.unwrap(), U256::from(4));
    assert!(sys.isTopLevelCall().call().await.unwrap());
    for n in 0..4u64 {
        let block = p.get_block_by_number(n.into()).await.unwrap().unwrap();
        assert_eq!(sys.arbBlockHash(U256::from(n)).call().await.unwrap(), block.header.hash, "block {n}");
    }
    let err = sys.arbBlockHash(U256::from(4)).call().await.unwrap_err();
    let data = err.as_revert_data().expect("revert data");
    assert_eq!(
        &data[..],
        &ArbSys::InvalidBlockNumber { requested: U256::from(4), current: U256::from(4) }.abi_encode()[..]
    );
    assert_eq!(
        sys.mapL1SenderContractAddressToL2Alias(
            address!("0000000000000000000000000000000000000001"),
            Address::ZERO
        )
        .call()
        .await
        .unwrap(),
        address!("1111000000000000000000000000000000001112")
    );
    let err = sys.withdrawEth(Address::ZERO).value(U256::from(1)).call().await.unwrap_err();
    assert!(err.to_string().contains("no L1"), "{err}");

    let owner = ArbOwnerPublic::new(ARB_OWNER_PUBLIC, p.clone());
    assert!(owner.isChainOwner(NITRO_OWNER).call().await.unwrap());
    assert!(!owner.isChainOwner(address(0)).call().await.unwrap());
    assert_eq!(owner.getAllChainOwners().call().await.unwrap(), vec![NITRO_OWNER]);
    assert_eq!(owner.getMaxStylusContractFragments().call().await.unwrap(), 0);
    let up = owner.getScheduledUpgrade().call().await.unwrap();
    assert_eq!((up.arbosVersion, up.scheduledForTimestamp), (0, 0));
}

/// The constructor path of `cargo stylus deploy`, step by step as stylus-tools 0.10.10 does it:
/// `codehashVersion` (inactive), `activateProgram` through eth_call with state overrides (a
/// random sender with U256::MAX balance, the code spoofed at a random address) to learn the
/// data fee, then one transaction to the StylusDeployer that deploys, activates and runs the
/// constructor, paying the fee bumped by 20%.
#[tokio::test]
async fn stylus_deployer_deploys_activates_and_constructs() {
    let wasm = compute_token_wasm();
    let dn = start().await;
    let p = provider(&dn, 0);
    let admin = address(0);
    let code = stylus_code(&wasm);

    let arbwasm = ArbWasm::new(ARB_WASM, p.clone());
    assert!(arbwasm.codehashVersion(keccak256(&code)).call().await.is_err());
    let sender = Address::repeat_byte(0x5e);
    let spoofed = Address::repeat_byte(0x5f);
    let overrides = StateOverride::from_iter([
        (sender, AccountOverride::default().with_balance(U256::MAX)),
        (spoofed, AccountOverride::default().with_code(code.clone())),
    ]);
    let quote = arbwasm
        .activateProgram(spoofed)
        .state(overrides)
        .from(sender)
        .value(U256::from(10).pow(U256::from(18)))
        .call()
        .await
        .unwrap();
    let fee = quote.dataFee * U256::from(120) / U256::from(100);

    let deployer = StylusDeployer::new(STYLUS_DEPLOYER, p.clone());
    assert!(deployer.requiresActivation(Address::ZERO).call().await.unwrap_or(true));
    let before = p.get_balance(admin).await.unwrap();
    let call = deployer
        .deploy_call(cargo_stylus_initcode(&code), constructor_init_data(admin), U256::ZERO, B256::ZERO)
        .value(fee);
    let gas = call.estimate_gas().await.unwrap();
    let r = call.gas(gas).send().await.unwrap().get_receipt().await.unwrap();
    assert!(r.status(), "deploy through the StylusDeployer succeeds");
    eprintln!("StylusDeployer deploy: estimated {gas} gas, used {}", r.gas_used);
    let deployed = r
        .inner
        .logs()
        .iter()
        .find(|l| l.topics().first() == Some(&StylusDeployer::ContractDeployed::SIGNATURE_HASH))
        .map(|l| Address::from_slice(&l.data().data[12..32]))
        .expect("ContractDeployed log");
    // Salt 0 means CREATE from the deployer (a contract's first nonce is 1).
    assert_eq!(deployed, STYLUS_DEPLOYER.create(1));
    // Only the data fee was kept: the 20% bump came back through the deployer.
    let gas_cost = U256::from(r.gas_used) * U256::from(r.effective_gas_price);
    assert_eq!(p.get_balance(admin).await.unwrap(), before - quote.dataFee - gas_cost);

    let t = IComputeToken::new(deployed, p.clone());
    assert_eq!(t.name().call().await.unwrap(), "H100 seconds");
    assert_eq!(t.admin().call().await.unwrap(), admin);
    assert_eq!(arbwasm.codehashVersion(keccak256(&code)).call().await.unwrap(), 2);
    assert!(!deployer.requiresActivation(deployed).call().await.unwrap());

    // A second deployment of the same code with a salt: CREATE2, already active, no fee.
    let salt = B256::repeat_byte(1);
    let r = deployer
        .deploy_call(cargo_stylus_initcode(&code), constructor_init_data(address(1)), U256::ZERO, salt)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status());
    let init_salt = deployer.initSalt(salt, constructor_init_data(address(1))).call().await.unwrap();
    let second = STYLUS_DEPLOYER.create2(init_salt, keccak256(cargo_stylus_initcode(&code)));
    assert_eq!(IComputeToken::new(second, p.clone()).admin().call().await.unwrap(), address(1));
    // The constructor's custom error surfaces through the deployer (admin = 0 is refused).
    let err = deployer
        .deploy_call(
            cargo_stylus_initcode(&code),
            constructor_init_data(Address::ZERO),
            U256::ZERO,
            B256::repeat_byte(2),
        )
        .call()
        .await
        .unwrap_err();
    assert!(err.as_revert_data().is_some(), "{err}");
}
