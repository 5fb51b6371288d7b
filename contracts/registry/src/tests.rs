//! Native tests through `contract_testkit::TestHost`: the vault's `freeStake` is mocked per
//! call, and an unmocked call reverts.

use super::*;
use alloy_primitives::{address, keccak256, Address, B256, U256};
use alloy_sol_types::{sol, SolCall, SolEvent, SolValue};
use contract_testkit::{CallKind, TestHost};
use stylus_sdk::testing::*;

const REGISTRY: Address = address!("4000000000000000000000000000000000000004");
const VAULT: Address = address!("2000000000000000000000000000000000000002");
const TOKEN: Address = address!("1000000000000000000000000000000000000001");
const OWNER: Address = address!("a000000000000000000000000000000000000001");
const GUARDIAN: Address = address!("a000000000000000000000000000000000000002");
const P1: Address = address!("b000000000000000000000000000000000000001");
const P2: Address = address!("b000000000000000000000000000000000000002");
const KEY: Address = address!("d000000000000000000000000000000000000001");

sol! {
    interface Vault { function freeStake(address operator) external view returns (uint256); }
}

fn u(x: u64) -> U256 {
    U256::from(x)
}

fn class() -> B256 {
    keccak256("H100-SXM5-80GB")
}

fn gpu(n: u8) -> B256 {
    keccak256([n])
}

fn host() -> TestHost {
    TestHost::new(TestVMBuilder::new().contract_address(REGISTRY).sender(OWNER).build())
}

fn free_stake(h: &TestHost, operator: Address, free: u64) {
    h.mock_static_call(VAULT, Vault::freeStakeCall { operator }.abi_encode(), Ok(u(free).abi_encode()));
}

fn registry(h: &TestHost) -> Registry {
    let mut r = Registry::from(h);
    h.set_sender(OWNER);
    r.constructor(OWNER, VAULT).unwrap();
    r.list_class(class(), TOKEN, u(1_000), 600, 3_600, 0b1111, u(10_000)).unwrap();
    r.set_guardian(GUARDIAN).unwrap();
    r
}

fn last_log(h: &TestHost) -> Vec<B256> {
    h.get_emitted_logs().last().unwrap().0.clone()
}

#[test]
fn constructor_rejects_zero_addresses() {
    let h = host();
    let mut r = Registry::from(&h);
    assert_eq!(r.constructor(Address::ZERO, VAULT), Err(RegistryError::ZeroAddress(ZeroAddress {})));
    assert_eq!(r.constructor(OWNER, Address::ZERO), Err(RegistryError::ZeroAddress(ZeroAddress {})));
    r.constructor(OWNER, VAULT).unwrap();
    assert_eq!((r.owner(), r.vault()), (OWNER, VAULT));
}

#[test]
fn classes_are_listed_by_the_owner_once_with_sane_params() {
    let h = host();
    let mut r = registry(&h);
    assert_eq!(r.class_info(class()), (TOKEN, u(1_000), 600, 3_600, 0b1111, u(10_000), true, U256::ZERO));
    assert_eq!(r.class_info(keccak256("nope")).0, Address::ZERO);
    let a100 = keccak256("A100-SXM4-80GB");
    h.set_sender(P1);
    assert_eq!(
        r.list_class(a100, TOKEN, u(1), 1, 1, 1, U256::ZERO),
        Err(RegistryError::NotOwner(NotOwner { caller: P1 }))
    );
    h.set_sender(OWNER);
    assert_eq!(
        r.list_class(class(), TOKEN, u(1), 1, 1, 1, U256::ZERO),
        Err(RegistryError::ClassAlreadyListed(ClassAlreadyListed { classId: class() }))
    );
    for (cps, window, delay, kinds) in [(0, 1, 1, 1), (1, 0, 1, 1), (1, 1, 0, 1), (1, 1, 1, 0)] {
        assert_eq!(
            r.list_class(a100, TOKEN, u(cps), window, delay, kinds, U256::ZERO),
            Err(RegistryError::InvalidClassParams(InvalidClassParams {}))
        );
    }
    assert_eq!(
        r.list_class(a100, Address::ZERO, u(1), 1, 1, 1, U256::ZERO),
        Err(RegistryError::ZeroAddress(ZeroAddress {}))
    );
    r.list_class(a100, TOKEN, u(1), 1, 1, 1, U256::ZERO).unwrap();
    assert_eq!(last_log(&h), vec![ClassListed::SIGNATURE_HASH, a100]);
    r.set_class_active(a100, false).unwrap();
    assert!(!r.class_info(a100).6);
    assert_eq!(last_log(&h), vec![ClassStatusSet::SIGNATURE_HASH, a100]);
    let nope = keccak256("nope");
    assert_eq!(
        r.set_class_active(nope, true),
        Err(RegistryError::UnknownClass(UnknownClass { classId: nope }))
    );
}

#[test]
fn registration_checks_stake_gpus_and_class() {
    let h = host();
    let mut r = registry(&h);
    h.set_sender(P1);
    free_stake(&h, P1, 9_999);
    assert_eq!(
        r.register_provider(class(), KEY, B256::ZERO, vec![gpu(1)]),
        Err(RegistryError::InsufficientStake(InsufficientStake { stake: u(9_999), minStake: u(10_000) }))
    );
    // the stake was asked of the vault, about this provider
    let call = h.calls().pop().unwrap();
    assert_eq!(
        (call.kind, call.to, call.data),
        (CallKind::StaticCall, VAULT, Vault::freeStakeCall { operator: P1 }.abi_encode())
    );
    assert_eq!(r.gpu_owner(gpu(1)), Address::ZERO, "nothing written by a failed registration");
    assert_eq!(r.register_provider(class(), KEY, B256::ZERO, vec![]), Err(RegistryError::NoGpus(NoGpus {})));
    assert_eq!(
        r.register_provider(class(), Address::ZERO, B256::ZERO, vec![gpu(1)]),
        Err(RegistryError::ZeroAddress(ZeroAddress {}))
    );
    let unknown = keccak256("TPU");
    assert_eq!(
        r.register_provider(unknown, KEY, B256::ZERO, vec![gpu(1)]),
        Err(RegistryError::UnknownClass(UnknownClass { classId: unknown }))
    );
    free_stake(&h, P1, 10_000);
    r.register_provider(class(), KEY, keccak256("evidence"), vec![gpu(1), gpu(2)]).unwrap();
    assert_eq!(r.provider_info(class(), P1), (true, KEY, keccak256("evidence"), 2));
    assert_eq!((r.gpu_owner(gpu(1)), r.gpu_owner(gpu(2))), (P1, P1));
    assert_eq!(r.class_info(class()).7, u(1));
    assert_eq!((r.provider_at(class(), U256::ZERO), r.provider_at(class(), u(1))), (P1, Address::ZERO));
    assert_eq!(last_log(&h), vec![ProviderRegistered::SIGNATURE_HASH, P1.into_word(), class()]);
    // twice, a GPU listed twice, or someone else's GPU
    assert_eq!(
        r.register_provider(class(), KEY, B256::ZERO, vec![gpu(3)]),
        Err(RegistryError::ProviderAlreadyRegistered(ProviderAlreadyRegistered {
            provider: P1,
            classId: class()
        }))
    );
    h.set_sender(P2);
    free_stake(&h, P2, 1_000_000);
    assert_eq!(
        r.register_provider(class(), KEY, B256::ZERO, vec![gpu(3), gpu(3)]),
        Err(RegistryError::GpuAlreadyRegistered(GpuAlreadyRegistered { gpuUuidHash: gpu(3), provider: P2 }))
    );
    assert_eq!(
        r.register_provider(class(), KEY, B256::ZERO, vec![gpu(3), gpu(2)]),
        Err(RegistryError::GpuAlreadyRegistered(GpuAlreadyRegistered { gpuUuidHash: gpu(2), provider: P1 }))
    );
    assert_eq!(r.gpu_owner(gpu(3)), Address::ZERO);
    // a vault that reverts: its reason comes back unchanged
    h.mock_static_call(VAULT, Vault::freeStakeCall { operator: P2 }.abi_encode(), Err(b"paused".to_vec()));
    assert_eq!(
        r.register_provider(class(), KEY, B256::ZERO, vec![gpu(3)]),
        Err(RegistryError::Bubbled(b"paused".to_vec()))
    );
    // an inactive class takes no new providers
    h.set_sender(OWNER);
    r.set_class_active(class(), false).unwrap();
    h.set_sender(P2);
    free_stake(&h, P2, 1_000_000);
    assert_eq!(
        r.register_provider(class(), KEY, B256::ZERO, vec![gpu(9)]),
        Err(RegistryError::ClassInactive(ClassInactive { classId: class() }))
    );
}

#[test]
fn relayers_are_set_by_the_owner() {
    let h = host();
    let mut r = registry(&h);
    h.set_sender(P1);
    assert_eq!(r.set_relayer(P1, true), Err(RegistryError::NotOwner(NotOwner { caller: P1 })));
    h.set_sender(OWNER);
    assert_eq!(r.set_relayer(Address::ZERO, true), Err(RegistryError::ZeroAddress(ZeroAddress {})));
    r.set_relayer(P2, true).unwrap();
    assert!(r.is_relayer(P2));
    assert_eq!(last_log(&h), vec![RelayerSet::SIGNATURE_HASH, P2.into_word()]);
    r.set_relayer(P2, false).unwrap();
    assert!(!r.is_relayer(P2));
}

#[test]
fn guardian_pauses_registration_and_ownership_moves_in_two_steps() {
    let h = host();
    let mut r = registry(&h);
    h.set_sender(OWNER);
    assert_eq!(r.pause(), Err(RegistryError::NotGuardian(NotGuardian { caller: OWNER })));
    h.set_sender(GUARDIAN);
    r.pause().unwrap();
    assert!(r.paused());
    h.set_sender(P1);
    assert_eq!(
        r.register_provider(class(), KEY, B256::ZERO, vec![gpu(1)]),
        Err(RegistryError::EnforcedPause(EnforcedPause {}))
    );
    h.set_sender(GUARDIAN);
    r.unpause().unwrap();
    h.set_sender(P1);
    free_stake(&h, P1, 10_000);
    r.register_provider(class(), KEY, B256::ZERO, vec![gpu(1)]).unwrap();

    assert_eq!(r.transfer_ownership(P1), Err(RegistryError::NotOwner(NotOwner { caller: P1 })));
    h.set_sender(OWNER);
    r.transfer_ownership(P2).unwrap();
    assert_eq!((r.owner(), r.pending_owner()), (OWNER, P2));
    h.set_sender(P1);
    assert_eq!(r.accept_ownership(), Err(RegistryError::NotPendingOwner(NotPendingOwner { caller: P1 })));
    h.set_sender(P2);
    r.accept_ownership().unwrap();
    assert_eq!((r.owner(), r.pending_owner()), (P2, Address::ZERO));
    assert_eq!(last_log(&h), vec![OwnershipTransferred::SIGNATURE_HASH, OWNER.into_word(), P2.into_word()]);
}
