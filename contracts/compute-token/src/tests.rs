//! Native tests on the SDK's TestVM, through `contract_testkit::TestHost` (per-call mocks,
//! unmocked calls revert). `ecrecover` is a precompile the test host does not run, so
//! permit tests sign with a real secp256k1 key, compute the digest independently with
//! alloy's EIP-712 implementation and mock the precompile for exactly that input, answering
//! what real recovery answers: a contract that hashed anything else finds no mock and
//! rejects the permit.

use super::*;
use alloy_primitives::{address, keccak256, Address, B256, U256};
use alloy_sol_types::{eip712_domain, SolCall, SolError, SolStruct};
use contract_testkit::TestHost;
use k256::ecdsa::SigningKey;
use proptest::prelude::*;
use stylus_sdk::testing::*;

const CHAIN_ID: u64 = 412346;
const TOKEN: Address = address!("1000000000000000000000000000000000000001");
const ADMIN: Address = address!("a000000000000000000000000000000000000001");
const MARKET: Address = address!("b000000000000000000000000000000000000001");
const ALICE: Address = address!("c000000000000000000000000000000000000001");
const BOB: Address = address!("c000000000000000000000000000000000000002");

alloy_sol_types::sol! {
    struct Permit { address owner; address spender; uint256 value; uint256 nonce; uint256 deadline; }
}

fn u(x: u64) -> U256 {
    U256::from(x)
}

fn class_id() -> B256 {
    keccak256("H100-SXM5-80GB")
}

fn vm() -> TestHost {
    TestHost::new(TestVMBuilder::new().chain_id(CHAIN_ID).contract_address(TOKEN).sender(ADMIN).build())
}

/// A token constructed by ADMIN with MARKET as minter.
fn deployed(vm: &TestHost) -> ComputeToken {
    let mut t = ComputeToken::from(vm);
    vm.set_sender(ADMIN);
    t.constructor(
        "H100 GPU-seconds".into(),
        "H100s".into(),
        class_id(),
        "NVIDIA H100 SXM5 80GB".into(),
        ADMIN,
    )
    .unwrap();
    t.set_minter(MARKET).unwrap();
    t
}

fn mint(vm: &TestHost, t: &mut ComputeToken, to: Address, v: u64) {
    vm.set_sender(MARKET);
    t.mint(to, u(v)).unwrap();
}

fn transfer_logs(vm: &TestHost) -> Vec<(Address, Address, U256)> {
    vm.get_emitted_logs()
        .into_iter()
        .filter(|(topics, _)| topics[0] == Transfer::SIGNATURE_HASH)
        .map(|(topics, data)| {
            (Address::from_word(topics[1]), Address::from_word(topics[2]), U256::from_be_slice(&data))
        })
        .collect()
}

use alloy_sol_types::SolEvent;

#[test]
fn constructor_sets_metadata_for_wallets() {
    let vm = vm();
    let t = deployed(&vm);
    assert_eq!(t.name(), "H100 GPU-seconds");
    assert_eq!(t.symbol(), "H100s");
    assert_eq!(t.decimals(), 0);
    assert_eq!(t.class_id(), class_id());
    assert_eq!(t.hardware(), "NVIDIA H100 SXM5 80GB");
    assert_eq!(t.admin(), ADMIN);
    assert_eq!(t.minter(), MARKET);
    assert_eq!(t.total_supply(), U256::ZERO);
}

#[test]
fn constructor_rejects_zero_admin_and_long_strings() {
    let vm = vm();
    let mut t = ComputeToken::from(&vm);
    let err = t.constructor("n".into(), "s".into(), class_id(), "h".into(), Address::ZERO).unwrap_err();
    assert_eq!(err, TokenError::UnauthorizedAdmin(UnauthorizedAdmin { caller: Address::ZERO }));
    let err = t.constructor("x".repeat(32), "s".into(), class_id(), "h".into(), ADMIN).unwrap_err();
    assert_eq!(err, TokenError::StringTooLong(StringTooLong { maxLength: u(31) }));
    let err = t.constructor("n".into(), "s".into(), class_id(), "h".repeat(40), ADMIN).unwrap_err();
    assert!(matches!(err, TokenError::StringTooLong(_)));
}

#[test]
fn minter_is_set_once_by_the_admin_only() {
    let vm = vm();
    let mut t = ComputeToken::from(&vm);
    t.constructor("n".into(), "s".into(), class_id(), "h".into(), ADMIN).unwrap();
    vm.set_sender(ALICE);
    assert_eq!(t.set_minter(ALICE), Err(TokenError::UnauthorizedAdmin(UnauthorizedAdmin { caller: ALICE })));
    vm.set_sender(ADMIN);
    assert_eq!(t.set_minter(Address::ZERO), Err(TokenError::InvalidMinter(InvalidMinter {})));
    t.set_minter(MARKET).unwrap();
    assert_eq!(t.set_minter(BOB), Err(TokenError::MinterAlreadySet(MinterAlreadySet { minter: MARKET })));
    assert_eq!(t.minter(), MARKET);
    let logs = vm.get_emitted_logs();
    assert_eq!(logs.last().unwrap().0, vec![MinterSet::SIGNATURE_HASH, MARKET.into_word()]);
}

#[test]
fn only_the_minter_mints_and_burns() {
    let vm = vm();
    let mut t = deployed(&vm);
    for who in [ADMIN, ALICE] {
        vm.set_sender(who);
        assert_eq!(
            t.mint(ALICE, u(5)),
            Err(TokenError::UnauthorizedMinter(UnauthorizedMinter { caller: who }))
        );
        assert_eq!(t.burn(u(1)), Err(TokenError::UnauthorizedMinter(UnauthorizedMinter { caller: who })));
    }
    // Before the minter is set, nobody (not even address zero) can mint.
    let vm2 = self::vm();
    let mut fresh = ComputeToken::from(&vm2);
    fresh.constructor("n".into(), "s".into(), class_id(), "h".into(), ADMIN).unwrap();
    vm2.set_sender(Address::ZERO);
    assert!(fresh.mint(ALICE, u(1)).is_err());

    mint(&vm, &mut t, MARKET, 100);
    mint(&vm, &mut t, ALICE, 7);
    assert_eq!(t.total_supply(), u(107));
    vm.set_sender(MARKET);
    t.burn(u(40)).unwrap();
    assert_eq!(t.balance_of(MARKET), u(60));
    assert_eq!(t.total_supply(), u(67));
    assert_eq!(
        t.burn(u(61)),
        Err(TokenError::ERC20InsufficientBalance(ERC20InsufficientBalance {
            sender: MARKET,
            balance: u(60),
            needed: u(61)
        }))
    );
    assert_eq!(
        t.mint(Address::ZERO, u(1)),
        Err(TokenError::ERC20InvalidReceiver(ERC20InvalidReceiver { receiver: Address::ZERO }))
    );
    assert_eq!(t.mint(ALICE, U256::MAX), Err(TokenError::SupplyOverflow(SupplyOverflow {})));
    let logs = transfer_logs(&vm);
    assert_eq!(logs[0], (Address::ZERO, MARKET, u(100)));
    assert_eq!(logs[2], (MARKET, Address::ZERO, u(40)));
}

#[test]
fn transfer_moves_balance_and_logs() {
    let vm = vm();
    let mut t = deployed(&vm);
    mint(&vm, &mut t, ALICE, 10);
    vm.set_sender(ALICE);
    assert_eq!(t.transfer(BOB, u(4)), Ok(true));
    assert_eq!((t.balance_of(ALICE), t.balance_of(BOB)), (u(6), u(4)));
    assert_eq!(transfer_logs(&vm).last().unwrap(), &(ALICE, BOB, u(4)));
    assert_eq!(
        t.transfer(BOB, u(7)),
        Err(TokenError::ERC20InsufficientBalance(ERC20InsufficientBalance {
            sender: ALICE,
            balance: u(6),
            needed: u(7)
        }))
    );
    assert_eq!(
        t.transfer(Address::ZERO, u(1)),
        Err(TokenError::ERC20InvalidReceiver(ERC20InvalidReceiver { receiver: Address::ZERO }))
    );
    // A zero-value transfer is a valid transfer (ERC-20).
    assert_eq!(t.transfer(BOB, U256::ZERO), Ok(true));
    assert_eq!(t.balance_of(ALICE), u(6));
}

#[test]
fn allowances_are_spent_and_infinite_is_kept() {
    let vm = vm();
    let mut t = deployed(&vm);
    mint(&vm, &mut t, ALICE, 10);
    vm.set_sender(ALICE);
    assert_eq!(
        t.approve(Address::ZERO, u(1)),
        Err(TokenError::ERC20InvalidSpender(ERC20InvalidSpender { spender: Address::ZERO }))
    );
    t.approve(BOB, u(5)).unwrap();
    assert_eq!(t.allowance(ALICE, BOB), u(5));
    vm.set_sender(BOB);
    assert_eq!(t.transfer_from(ALICE, BOB, u(3)), Ok(true));
    assert_eq!(t.allowance(ALICE, BOB), u(2));
    assert_eq!(
        t.transfer_from(ALICE, BOB, u(3)),
        Err(TokenError::ERC20InsufficientAllowance(ERC20InsufficientAllowance {
            spender: BOB,
            allowance: u(2),
            needed: u(3)
        }))
    );
    vm.set_sender(ALICE);
    t.approve(BOB, U256::MAX).unwrap();
    vm.set_sender(BOB);
    t.transfer_from(ALICE, BOB, u(7)).unwrap();
    assert_eq!(t.allowance(ALICE, BOB), U256::MAX);
    assert_eq!(t.balance_of(BOB), u(10));
    // Allowance does not create balance.
    assert!(matches!(t.transfer_from(ALICE, BOB, u(1)), Err(TokenError::ERC20InsufficientBalance(_))));
    // No allowance at all.
    vm.set_sender(ADMIN);
    assert!(matches!(t.transfer_from(BOB, ADMIN, u(1)), Err(TokenError::ERC20InsufficientAllowance(_))));
}

// ----- permit -----

struct Signer {
    key: SigningKey,
    address: Address,
}

fn signer(seed: u8) -> Signer {
    let key = SigningKey::from_bytes(&[seed; 32].into()).unwrap();
    let point = key.verifying_key().to_encoded_point(false);
    let address = Address::from_slice(&keccak256(&point.as_bytes()[1..])[12..]);
    Signer { key, address }
}

/// The EIP-712 digest of a permit, computed with alloy (independently of the contract).
fn permit_digest(
    owner: Address,
    spender: Address,
    value: U256,
    nonce: U256,
    deadline: U256,
    chain_id: u64,
) -> B256 {
    let domain = eip712_domain! {
        name: "H100 GPU-seconds",
        version: "1",
        chain_id: chain_id,
        verifying_contract: TOKEN,
    };
    Permit { owner, spender, value, nonce, deadline }.eip712_signing_hash(&domain)
}

/// Signs a permit as a wallet would.
fn sign(s: &Signer, digest: B256) -> (u8, B256, B256) {
    let (sig, recid) = s.key.sign_prehash_recoverable(digest.as_slice()).unwrap();
    (27 + recid.to_byte(), B256::from_slice(&sig.r().to_bytes()), B256::from_slice(&sig.s().to_bytes()))
}

/// Makes ecrecover answer what the real precompile answers for `digest` and this
/// signature (real secp256k1 recovery here), for exactly that input.
fn mock_precompile(vm: &TestHost, digest: B256, v: u8, r: B256, s: B256) {
    let sig = k256::ecdsa::Signature::from_scalars(r.0, s.0);
    let recid = k256::ecdsa::RecoveryId::from_byte(v.wrapping_sub(27));
    let out = match (sig, recid) {
        (Ok(sig), Some(recid)) => {
            match k256::ecdsa::VerifyingKey::recover_from_prehash(digest.as_slice(), &sig, recid) {
                Ok(key) => {
                    let point = key.to_encoded_point(false);
                    Address::from_slice(&keccak256(&point.as_bytes()[1..])[12..]).into_word().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    vm.mock_static_call(
        contracts_common::ecdsa::ECRECOVER,
        contracts_common::ecdsa::ecrecover_input(digest, v, r, s).to_vec(),
        Ok(out),
    );
}

/// Submits a permit as the contract will hash it (current nonce, this chain).
fn submit(
    vm: &TestHost,
    t: &mut ComputeToken,
    owner: Address,
    spender: Address,
    value: U256,
    deadline: U256,
    sig: (u8, B256, B256),
) -> Result<(), TokenError> {
    let digest = permit_digest(owner, spender, value, t.nonces(owner), deadline, CHAIN_ID);
    mock_precompile(vm, digest, sig.0, sig.1, sig.2);
    t.permit(owner, spender, value, deadline, sig.0, sig.1, sig.2)
}

#[test]
fn permit_digest_matches_alloy() {
    let vm = vm();
    let t = deployed(&vm);
    let alice = signer(7);
    let (value, nonce, deadline) = (u(50), u(3), u(999));
    let ours = contracts_common::eip712::typed_data_digest(
        t.domain_separator(),
        permit_struct_hash(alice.address, BOB, value, nonce, deadline),
    );
    assert_eq!(ours, permit_digest(alice.address, BOB, value, nonce, deadline, CHAIN_ID));
    assert_eq!(
        permit_struct_hash(alice.address, BOB, value, nonce, deadline),
        Permit { owner: alice.address, spender: BOB, value, nonce, deadline }.eip712_hash_struct()
    );
}

#[test]
fn domain_separator_matches_alloy_and_eip5267() {
    let vm = vm();
    let t = deployed(&vm);
    let domain = eip712_domain! { name: "H100 GPU-seconds", version: "1", chain_id: CHAIN_ID, verifying_contract: TOKEN, };
    assert_eq!(t.domain_separator(), domain.separator());
    let (fields, name, version, chain, contract, salt, ext) = t.eip712_domain();
    assert_eq!(fields.0, [0x0f]);
    assert_eq!((name.as_str(), version.as_str()), ("H100 GPU-seconds", "1"));
    assert_eq!((chain, contract, salt), (U256::from(CHAIN_ID), TOKEN, B256::ZERO));
    assert!(ext.is_empty());
}

#[test]
fn permit_sets_allowance_once() {
    let vm = vm();
    let mut t = deployed(&vm);
    let alice = signer(7);
    vm.set_block_timestamp(1_000);
    let deadline = u(2_000);
    let sig = sign(&alice, permit_digest(alice.address, BOB, u(50), U256::ZERO, deadline, CHAIN_ID));
    vm.set_sender(BOB); // anyone may submit the permit
    submit(&vm, &mut t, alice.address, BOB, u(50), deadline, sig).unwrap();
    assert_eq!(t.allowance(alice.address, BOB), u(50));
    assert_eq!(t.nonces(alice.address), u(1));
    let approval = vm.get_emitted_logs().last().unwrap().clone();
    assert_eq!(approval.0, vec![Approval::SIGNATURE_HASH, alice.address.into_word(), BOB.into_word()]);
    // Replay: the nonce moved on, so the same signature now recovers someone else.
    let err = submit(&vm, &mut t, alice.address, BOB, u(50), deadline, sig).unwrap_err();
    assert!(
        matches!(err, TokenError::ERC2612InvalidSigner(ERC2612InvalidSigner { owner, signer }) if owner == alice.address && signer != alice.address)
    );
    assert_eq!(t.nonces(alice.address), u(1));
    // Spending through the permit works like any allowance.
    mint(&vm, &mut t, alice.address, 60);
    vm.set_sender(BOB);
    t.transfer_from(alice.address, BOB, u(50)).unwrap();
    assert_eq!(t.balance_of(BOB), u(50));
}

#[test]
fn permit_rejects_expired_wrong_signer_other_chain_and_tampering() {
    let vm = vm();
    let mut t = deployed(&vm);
    let alice = signer(7);
    let mallory = signer(9);
    vm.set_block_timestamp(5_000);
    let good = |value: u64, deadline: u64| {
        sign(&alice, permit_digest(alice.address, BOB, u(value), U256::ZERO, u(deadline), CHAIN_ID))
    };

    // expired: refused before any signature work
    assert_eq!(
        submit(&vm, &mut t, alice.address, BOB, u(1), u(4_999), good(1, 4_999)),
        Err(TokenError::ERC2612ExpiredSignature(ERC2612ExpiredSignature { deadline: u(4_999) }))
    );
    // signed by someone else
    let sig = sign(&mallory, permit_digest(alice.address, BOB, u(1), U256::ZERO, u(6_000), CHAIN_ID));
    assert_eq!(
        submit(&vm, &mut t, alice.address, BOB, u(1), u(6_000), sig),
        Err(TokenError::ERC2612InvalidSigner(ERC2612InvalidSigner {
            signer: mallory.address,
            owner: alice.address
        }))
    );
    // signed for another chain (a replay across deployments)
    let sig = sign(&alice, permit_digest(alice.address, BOB, u(1), U256::ZERO, u(6_000), 421614));
    assert!(matches!(
        submit(&vm, &mut t, alice.address, BOB, u(1), u(6_000), sig),
        Err(TokenError::ERC2612InvalidSigner(_))
    ));
    // value tampered with after signing
    assert!(matches!(
        submit(&vm, &mut t, alice.address, BOB, u(1_000), u(6_000), good(1, 6_000)),
        Err(TokenError::ERC2612InvalidSigner(_))
    ));
    // malleable (high-s) and bad-v signatures are refused before any recovery
    let (v, r, s) = good(1, 6_000);
    let n = U256::from_be_bytes(contracts_common::ecdsa::SECP256K1_HALF_ORDER.to_be_bytes::<32>())
        * U256::from(2)
        + U256::from(1);
    let twin_s = B256::from(n - U256::from_be_bytes(s.0));
    let twin_v = if v == 27 { 28 } else { 27 };
    assert!(matches!(
        submit(&vm, &mut t, alice.address, BOB, u(1), u(6_000), (twin_v, r, twin_s)),
        Err(TokenError::ERC2612InvalidSigner(_))
    ));
    assert!(matches!(
        submit(&vm, &mut t, alice.address, BOB, u(1), u(6_000), (1, r, s)),
        Err(TokenError::ERC2612InvalidSigner(_))
    ));
    // garbage that recovers nobody never authorises the zero owner
    assert!(matches!(
        submit(&vm, &mut t, Address::ZERO, BOB, u(1), u(6_000), (27, B256::ZERO, B256::ZERO)),
        Err(TokenError::ERC2612InvalidSigner(ERC2612InvalidSigner { signer, .. })) if signer.is_zero()
    ));
    assert_eq!(t.nonces(alice.address), U256::ZERO);
    assert_eq!(t.allowance(alice.address, BOB), U256::ZERO);
    // the genuine one still works afterwards
    submit(&vm, &mut t, alice.address, BOB, u(1), u(6_000), good(1, 6_000)).unwrap();
    assert_eq!(t.allowance(alice.address, BOB), u(1));
}

#[test]
fn errors_encode_as_erc6093_selectors() {
    let e: Vec<u8> = TokenError::ERC20InsufficientBalance(ERC20InsufficientBalance {
        sender: ALICE,
        balance: u(1),
        needed: u(2),
    })
    .into();
    assert_eq!(&e[..4], &keccak256("ERC20InsufficientBalance(address,uint256,uint256)")[..4]);
    assert_eq!(&e[..4], &ERC20InsufficientBalance::SELECTOR);
    let _ = IERC20::transferCall { to: ALICE, value: u(1) }.abi_encode();
}

alloy_sol_types::sol! {
    interface IERC20 { function transfer(address to, uint256 value) external returns (bool); }
}

// ----- properties -----

#[derive(Debug, Clone)]
enum Op {
    Mint(usize, u64),
    Burn(u64),
    Transfer(usize, usize, u64),
    Approve(usize, usize, u64),
    TransferFrom(usize, usize, usize, u64),
}

const ACCOUNTS: [Address; 4] = [MARKET, ALICE, BOB, ADMIN];

fn op() -> impl Strategy<Value = Op> {
    let a = 0..ACCOUNTS.len();
    let amt = prop_oneof![0u64..20, 0u64..1_000, Just(u64::MAX)];
    prop_oneof![
        (a.clone(), amt.clone()).prop_map(|(to, v)| Op::Mint(to, v)),
        amt.clone().prop_map(Op::Burn),
        (a.clone(), a.clone(), amt.clone()).prop_map(|(f, t, v)| Op::Transfer(f, t, v)),
        (a.clone(), a.clone(), amt.clone()).prop_map(|(o, s, v)| Op::Approve(o, s, v)),
        (a.clone(), a.clone(), a.clone(), amt).prop_map(|(s, f, t, v)| Op::TransferFrom(s, f, t, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Supply is conserved: only mint and burn change it, the balances always sum to it,
    /// a failed call changes nothing, and allowances follow the ERC-20 rules exactly
    /// (checked against a plain model).
    #[test]
    fn supply_conservation_and_allowance_rules(ops in proptest::collection::vec(op(), 1..40)) {
        let vm = vm();
        let mut t = deployed(&vm);
        let mut bal = [U256::ZERO; 4];
        let mut allow = [[U256::ZERO; 4]; 4];
        let mut supply = U256::ZERO;
        for op in ops {
            match op {
                Op::Mint(to, v) => {
                    vm.set_sender(MARKET);
                    let ok = t.mint(ACCOUNTS[to], u(v)).is_ok();
                    prop_assert_eq!(ok, supply.checked_add(u(v)).is_some());
                    if ok { supply += u(v); bal[to] += u(v); }
                }
                Op::Burn(v) => {
                    vm.set_sender(MARKET);
                    let ok = t.burn(u(v)).is_ok();
                    prop_assert_eq!(ok, bal[0] >= u(v));
                    if ok { supply -= u(v); bal[0] -= u(v); }
                }
                Op::Transfer(f, to, v) => {
                    vm.set_sender(ACCOUNTS[f]);
                    let ok = t.transfer(ACCOUNTS[to], u(v)).is_ok();
                    prop_assert_eq!(ok, bal[f] >= u(v));
                    if ok { bal[f] -= u(v); bal[to] += u(v); }
                }
                Op::Approve(o, s, v) => {
                    vm.set_sender(ACCOUNTS[o]);
                    t.approve(ACCOUNTS[s], u(v)).unwrap();
                    allow[o][s] = u(v);
                }
                Op::TransferFrom(s, f, to, v) => {
                    vm.set_sender(ACCOUNTS[s]);
                    let ok = t.transfer_from(ACCOUNTS[f], ACCOUNTS[to], u(v)).is_ok();
                    prop_assert_eq!(ok, allow[f][s] >= u(v) && bal[f] >= u(v));
                    if ok {
                        if allow[f][s] != U256::MAX { allow[f][s] -= u(v); }
                        bal[f] -= u(v); bal[to] += u(v);
                    }
                }
            }
            prop_assert_eq!(t.total_supply(), supply);
            let mut sum = U256::ZERO;
            for (i, a) in ACCOUNTS.iter().enumerate() {
                prop_assert_eq!(t.balance_of(*a), bal[i]);
                sum += t.balance_of(*a);
                for (j, b) in ACCOUNTS.iter().enumerate() {
                    prop_assert_eq!(t.allowance(*a, *b), allow[i][j]);
                }
            }
            prop_assert_eq!(sum, supply);
        }
    }
}
