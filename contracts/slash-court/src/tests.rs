//! Native tests on the SDK's TestVM wrapped in `contract_testkit::TestHost`: the vault is
//! not executed; its `config()` and `slash(...)` are mocked per call and every call the
//! court makes is asserted with its exact calldata.

use super::*;
use alloy_primitives::{address, keccak256};
use alloy_sol_types::SolValue;
use contract_testkit::{CallKind, RecordedCall, TestHost, UNMOCKED};
use stylus_sdk::testing::*;

const VAULT: Address = address!("0x00000000000000000000000000000000000000fa");
const COURT: Address = address!("0x00000000000000000000000000000000000000cc");
const OWNER: Address = address!("0x0000000000000000000000000000000000000001");
const VSLASHER: Address = address!("0x0000000000000000000000000000000000000004");
const RESOLVER: Address = address!("0x0000000000000000000000000000000000000005");
const BOB: Address = address!("0x00000000000000000000000000000000000000b0");
const CAROL: Address = address!("0x00000000000000000000000000000000000000c4");
const OP: Address = address!("0x0000000000000000000000000000000000000b01");
const VICTIM: Address = address!("0x0000000000000000000000000000000000000d0d");

const DELAY: u64 = 7 * 24 * 3600;
const WINDOW: u64 = 2 * 24 * 3600;
const T0: u64 = 1_700_000_000;
const EVIDENCE: B256 = B256::repeat_byte(0xee);

fn u(x: u128) -> U256 {
    U256::from(x)
}

/// The vault's `config()` answer with the given withdrawal delay.
fn mock_delay(host: &TestHost, delay: u64) {
    let ret = (Address::repeat_byte(1), Address::repeat_byte(2), OWNER, Address::ZERO, delay, false, u(3))
        .abi_encode_params();
    host.mock_static_call(VAULT, IVault::configCall {}.abi_encode(), Ok(ret));
}

fn slash_calldata(amount: U256, compensation: U256) -> Vec<u8> {
    IVault::slashCall { operator: OP, amount, evidenceHash: EVIDENCE, beneficiary: VICTIM, compensation }
        .abi_encode()
}

fn mock_slash(host: &TestHost, amount: U256, compensation: U256, answer: Result<Vec<u8>, Vec<u8>>) {
    host.mock_call(VAULT, slash_calldata(amount, compensation), U256::ZERO, answer);
}

fn setup() -> (TestHost, SlashCourt) {
    let host = TestHost::new(TestVMBuilder::new().contract_address(COURT).build());
    host.set_block_timestamp(T0);
    mock_delay(&host, DELAY);
    let mut c = SlashCourt::from(&host);
    host.set_sender(OWNER);
    c.constructor(VAULT, OWNER, WINDOW).unwrap();
    c.set_role(roles::VETOABLE_SLASHER, VSLASHER, true).unwrap();
    c.set_role(roles::RESOLVER, RESOLVER, true).unwrap();
    host.take_calls();
    (host, c)
}

fn events<E: SolEvent>(host: &TestHost) -> Vec<E> {
    host.get_emitted_logs()
        .iter()
        .filter(|(topics, _)| topics.first() == Some(&E::SIGNATURE_HASH))
        .map(|(topics, data)| E::decode_raw_log(topics.iter().copied(), data).unwrap())
        .collect()
}

fn last_event<E: SolEvent>(host: &TestHost) -> E {
    events::<E>(host).pop().expect("event emitted")
}

fn unauthorized_err(caller: Address, role: B256) -> CourtError {
    CourtError::Unauthorized(Unauthorized { caller, role })
}

fn config_call() -> RecordedCall {
    RecordedCall {
        kind: CallKind::StaticCall,
        to: VAULT,
        data: IVault::configCall {}.abi_encode(),
        value: U256::ZERO,
    }
}

#[test]
fn role_ids_and_vault_selectors() {
    for (id, name) in [
        (roles::OWNER, "OWNER_ROLE"),
        (roles::PENDING_OWNER, "PENDING_OWNER_ROLE"),
        (roles::VETOABLE_SLASHER, "VETOABLE_SLASHER_ROLE"),
        (roles::RESOLVER, "RESOLVER_ROLE"),
    ] {
        assert_eq!(id, keccak256(name.as_bytes()), "{name}");
    }
    assert_eq!(IVault::slashCall::SELECTOR, keccak256("slash(address,uint256,bytes32,address,uint256)")[..4]);
    assert_eq!(IVault::configCall::SELECTOR, keccak256("config()")[..4]);
    for name in ["SlashRequested", "SlashVetoed", "SlashExecuted", "VetoWindowSet", "RoleSet"] {
        let sol = EVENTS_SOL.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(sol.contains(&format!("event {name}(")), "{name}");
    }
}

#[test]
fn constructor_sets_configuration_and_reads_the_vault_delay() {
    let host = TestHost::new(TestVMBuilder::new().contract_address(COURT).build());
    mock_delay(&host, DELAY);
    let mut c = SlashCourt::from(&host);
    c.constructor(VAULT, OWNER, WINDOW).unwrap();
    assert_eq!(host.take_calls(), vec![config_call()]);
    assert_eq!(c.config(), (VAULT, WINDOW, Address::ZERO, U256::ZERO));
    assert_eq!(c.owner(), OWNER);
    assert_eq!(last_event::<VetoWindowSet>(&host).vetoWindow, WINDOW);
    let t = last_event::<OwnershipTransferred>(&host);
    assert_eq!((t.previousOwner, t.newOwner), (Address::ZERO, OWNER));
}

#[test]
fn constructor_rejects_zero_addresses_and_long_windows() {
    for (vault, owner) in [(Address::ZERO, OWNER), (VAULT, Address::ZERO)] {
        let host = TestHost::new(TestVMBuilder::new().build());
        let mut c = SlashCourt::from(&host);
        assert_eq!(c.constructor(vault, owner, WINDOW), Err(CourtError::ZeroAddress(ZeroAddress {})));
    }
    for window in [DELAY, DELAY + 1] {
        let host = TestHost::new(TestVMBuilder::new().build());
        mock_delay(&host, DELAY);
        let mut c = SlashCourt::from(&host);
        assert_eq!(
            c.constructor(VAULT, OWNER, window),
            Err(CourtError::InvalidVetoWindow(InvalidVetoWindow {
                vetoWindow: window,
                withdrawalDelay: DELAY
            }))
        );
    }
    // A vault that reverts (or is not a vault): its revert data is re-raised.
    let host = TestHost::new(TestVMBuilder::new().build());
    let mut c = SlashCourt::from(&host);
    assert_eq!(c.constructor(VAULT, OWNER, WINDOW), Err(CourtError::Bubbled(UNMOCKED.to_vec())));
    // A zero window is allowed (requests execute at once, still vetoable in no block).
    let host = TestHost::new(TestVMBuilder::new().build());
    mock_delay(&host, DELAY);
    let mut c = SlashCourt::from(&host);
    assert!(c.constructor(VAULT, OWNER, 0).is_ok());
}

#[test]
fn vetoable_slash_executes_after_the_window() {
    let (host, mut c) = setup();
    host.set_sender(BOB);
    assert_eq!(
        c.request_slash(OP, u(1), EVIDENCE, VICTIM, u(1)),
        Err(unauthorized_err(BOB, roles::VETOABLE_SLASHER))
    );
    host.set_sender(VSLASHER);
    assert_eq!(
        c.request_slash(Address::ZERO, u(1), EVIDENCE, VICTIM, u(1)),
        Err(CourtError::ZeroAddress(ZeroAddress {}))
    );
    host.take_calls();
    let id = c.request_slash(OP, u(400), EVIDENCE, VICTIM, u(150)).unwrap();
    assert_eq!(id, u(1));
    // The request re-checks the window against the vault's current delay.
    assert_eq!(host.take_calls(), vec![config_call()]);
    assert_eq!(c.config().3, u(1));
    let e = last_event::<SlashRequested>(&host);
    assert_eq!(
        (
            e.requestId,
            e.operator,
            e.requester,
            e.amount,
            e.evidenceHash,
            e.beneficiary,
            e.compensation,
            e.executableAt
        ),
        (id, OP, VSLASHER, u(400), EVIDENCE, VICTIM, u(150), T0 + WINDOW)
    );
    assert_eq!(c.slash_request(id), (OP, u(400), EVIDENCE, VICTIM, u(150), T0 + WINDOW, false, false));
    host.set_sender(CAROL);
    host.set_block_timestamp(T0 + WINDOW - 1);
    assert_eq!(
        c.execute_slash(id),
        Err(CourtError::VetoWindowOpen(VetoWindowOpen { executableAt: U256::from(T0 + WINDOW) }))
    );
    assert_eq!(
        c.execute_slash(u(2)),
        Err(CourtError::UnknownSlashRequest(UnknownSlashRequest { requestId: u(2) }))
    );
    host.set_block_timestamp(T0 + WINDOW);
    host.set_sender(RESOLVER);
    assert_eq!(
        c.veto_slash(id),
        Err(CourtError::VetoWindowClosed(VetoWindowClosed { executableAt: U256::from(T0 + WINDOW) }))
    );
    // The vault caps the slash by the slashable stake (here 300 of the 400 asked).
    host.take_calls();
    mock_slash(&host, u(400), u(150), Ok(u(300).abi_encode()));
    host.set_sender(CAROL);
    assert_eq!(c.execute_slash(id), Ok(u(300)));
    assert_eq!(
        host.take_calls(),
        vec![RecordedCall {
            kind: CallKind::Call,
            to: VAULT,
            data: slash_calldata(u(400), u(150)),
            value: U256::ZERO
        }]
    );
    let e = last_event::<SlashExecuted>(&host);
    assert_eq!((e.requestId, e.slashed), (id, u(300)));
    assert_eq!(
        c.execute_slash(id),
        Err(CourtError::SlashRequestExecuted(SlashRequestExecuted { requestId: id }))
    );
    assert!(host.take_calls().is_empty());
    assert!(c.slash_request(id).7);
}

#[test]
fn vetoed_slash_never_executes() {
    let (host, mut c) = setup();
    host.set_sender(VSLASHER);
    let id = c.request_slash(OP, u(400), EVIDENCE, VICTIM, u(150)).unwrap();
    host.set_sender(VSLASHER);
    assert_eq!(c.veto_slash(id), Err(unauthorized_err(VSLASHER, roles::RESOLVER)));
    host.set_sender(RESOLVER);
    assert_eq!(
        c.veto_slash(u(7)),
        Err(CourtError::UnknownSlashRequest(UnknownSlashRequest { requestId: u(7) }))
    );
    host.set_block_timestamp(T0 + WINDOW - 1);
    c.veto_slash(id).unwrap();
    let e = last_event::<SlashVetoed>(&host);
    assert_eq!((e.requestId, e.resolver), (id, RESOLVER));
    assert_eq!(c.veto_slash(id), Err(CourtError::SlashRequestVetoed(SlashRequestVetoed { requestId: id })));
    host.set_block_timestamp(T0 + WINDOW);
    host.take_calls();
    assert_eq!(
        c.execute_slash(id),
        Err(CourtError::SlashRequestVetoed(SlashRequestVetoed { requestId: id }))
    );
    // The vault was never called.
    assert!(host.take_calls().is_empty());
    assert!(c.slash_request(id).6);
}

#[test]
fn a_vault_revert_is_bubbled() {
    let (host, mut c) = setup();
    host.set_sender(VSLASHER);
    let id = c.request_slash(OP, u(10), EVIDENCE, VICTIM, u(10)).unwrap();
    host.set_block_timestamp(T0 + WINDOW);
    let revert = vec![0xde, 0xad, 0xbe, 0xef];
    mock_slash(&host, u(10), u(10), Err(revert.clone()));
    assert_eq!(c.execute_slash(id), Err(CourtError::Bubbled(revert)));
    // (On chain the revert also rolls back the `executed` flag, so the request can be
    // executed again once the vault accepts, e.g. after granting the court SLASHER_ROLE.)
}

#[test]
fn request_rechecks_the_window_against_the_current_vault_delay() {
    let (host, mut c) = setup();
    // The vault's owner shortened the delay to the window: requests stop until the court
    // shortens its window.
    mock_delay(&host, WINDOW);
    host.set_sender(VSLASHER);
    assert_eq!(
        c.request_slash(OP, u(1), EVIDENCE, VICTIM, u(1)),
        Err(CourtError::InvalidVetoWindow(InvalidVetoWindow { vetoWindow: WINDOW, withdrawalDelay: WINDOW }))
    );
    host.set_sender(BOB);
    assert_eq!(c.set_veto_window(WINDOW / 2), Err(unauthorized_err(BOB, roles::OWNER)));
    host.set_sender(OWNER);
    assert_eq!(
        c.set_veto_window(WINDOW),
        Err(CourtError::InvalidVetoWindow(InvalidVetoWindow { vetoWindow: WINDOW, withdrawalDelay: WINDOW }))
    );
    c.set_veto_window(WINDOW / 2).unwrap();
    assert_eq!(last_event::<VetoWindowSet>(&host).vetoWindow, WINDOW / 2);
    assert_eq!(c.config().1, WINDOW / 2);
    host.set_sender(VSLASHER);
    let id = c.request_slash(OP, u(1), EVIDENCE, VICTIM, u(1)).unwrap();
    assert_eq!(c.slash_request(id).5, T0 + WINDOW / 2);
}

#[test]
fn roles_are_owner_managed() {
    let (host, mut c) = setup();
    host.set_sender(BOB);
    assert_eq!(c.set_role(roles::RESOLVER, BOB, true), Err(unauthorized_err(BOB, roles::OWNER)));
    host.set_sender(OWNER);
    assert_eq!(
        c.set_role(roles::RESOLVER, Address::ZERO, true),
        Err(CourtError::ZeroAddress(ZeroAddress {}))
    );
    for role in [roles::OWNER, keccak256("SLASHER_ROLE"), B256::ZERO] {
        assert_eq!(c.set_role(role, BOB, true), Err(CourtError::UnknownRole(UnknownRole { role })));
    }
    assert!(c.has_role(roles::VETOABLE_SLASHER, VSLASHER) && !c.has_role(roles::RESOLVER, VSLASHER));
    assert!(c.has_role(roles::RESOLVER, RESOLVER) && !c.has_role(roles::VETOABLE_SLASHER, RESOLVER));
    assert!(!c.has_role(B256::ZERO, RESOLVER));
    c.set_role(roles::RESOLVER, BOB, true).unwrap();
    let e = last_event::<RoleSet>(&host);
    assert_eq!((e.role, e.account, e.enabled), (roles::RESOLVER, BOB, true));
    c.set_role(roles::VETOABLE_SLASHER, BOB, true).unwrap();
    c.set_role(roles::RESOLVER, BOB, false).unwrap();
    assert!(!c.has_role(roles::RESOLVER, BOB) && c.has_role(roles::VETOABLE_SLASHER, BOB));
}

#[test]
fn two_step_ownership_transfer() {
    let (host, mut c) = setup();
    host.set_sender(BOB);
    assert_eq!(c.transfer_ownership(BOB), Err(unauthorized_err(BOB, roles::OWNER)));
    host.set_sender(OWNER);
    c.transfer_ownership(BOB).unwrap();
    let e = last_event::<OwnershipTransferStarted>(&host);
    assert_eq!((e.previousOwner, e.newOwner), (OWNER, BOB));
    assert_eq!(c.config().2, BOB);
    host.set_sender(CAROL);
    assert_eq!(c.accept_ownership(), Err(unauthorized_err(CAROL, roles::PENDING_OWNER)));
    host.set_sender(Address::ZERO);
    assert_eq!(c.accept_ownership(), Err(unauthorized_err(Address::ZERO, roles::PENDING_OWNER)));
    host.set_sender(BOB);
    c.accept_ownership().unwrap();
    assert_eq!((c.owner(), c.config().2), (BOB, Address::ZERO));
    let e = last_event::<OwnershipTransferred>(&host);
    assert_eq!((e.previousOwner, e.newOwner), (OWNER, BOB));
    host.set_sender(OWNER);
    assert_eq!(c.set_role(roles::RESOLVER, CAROL, true), Err(unauthorized_err(OWNER, roles::OWNER)));
}
