//! Property tests: random operation sequences run against the contract (on the TestVM,
//! token calls mocked) and against a reference model written in plain Rust with the same
//! integer rules. After every step the contract's views must equal the model's, and the
//! model (hence the contract) must keep the invariants:
//!
//! * shares and assets consistent: the stakers' shares sum to the pool's shares, their
//!   assets sum to at most the pool's assets, pools never negative, `locked <= A`;
//! * conservation: the vault's collateral balance (tracked from the mocked transfers)
//!   equals active + queued assets + finalised unclaimed withdrawals, exactly;
//! * a slash takes `min(amount, slashable)`, never more, split pro rata between the
//!   active and queued pools, and every delegator and queued withdrawal loses pro rata
//!   (within one unit of rounding);
//! * no claim before the unlock time, none by another account, none twice;
//! * no payout above the staker's deposit less its pro-rata share of slashes (an exact
//!   real-number "fair value" ledger kept in f64), up to the rounding dust other stakers'
//!   operations leave in the pool (under 2 units per operation on that operator).

use super::*;
use proptest::prelude::*;

const STAKERS: [Address; 3] = [ALICE, BOB, CAROL];
const OPS: [Address; 2] = [OP, OP2];
const CASES: u32 = 1000;

#[derive(Clone, Debug)]
enum Action {
    Deposit { staker: usize, op: usize, amount: u64 },
    Queue { staker: usize, op: usize, pct: u8 },
    Advance { secs: u64 },
    Slash { op: usize, amount: u64, comp: u64, pay: bool },
    Claim { pick: usize, wrong_caller: bool },
    Lock { op: usize, amount: u64 },
    Unlock { op: usize, amount: u64 },
    Process { op: usize, max: u8 },
    SetDelay { delay: u64 },
}

#[derive(Default, Clone, Debug)]
struct MPool {
    a: U256,
    s: U256,
    q: U256,
    qs: U256,
    locked: U256,
    head: usize,
    queue: Vec<usize>,
    stakes: [U256; 3],
    /// Real-valued fair stake of each staker in the active pool.
    fair: [f64; 3],
    /// Operations on this operator's pools (bounds the rounding dust a staker may gain).
    events: u64,
}

#[derive(Clone, Debug)]
struct MWithdrawal {
    staker: usize,
    op: usize,
    unlock: u64,
    qs: U256,
    assets: U256,
    finalized: bool,
    claimed: bool,
    fair: f64,
}

#[derive(Default, Debug)]
struct Model {
    pools: [MPool; 2],
    ws: Vec<MWithdrawal>,
    now: u64,
    delay: u64,
    /// The vault's collateral balance, from the transfers it made.
    balance: U256,
    deposited: [U256; 3],
    paid: [U256; 3],
}

fn f(x: U256) -> f64 {
    f64::from(x)
}

impl Model {
    fn preview(&self, op: usize) -> (U256, U256) {
        let p = &self.pools[op];
        let (mut q, mut qs) = (p.q, p.qs);
        for &i in &p.queue[p.head..] {
            let w = &self.ws[i];
            if w.finalized {
                continue;
            }
            if w.unlock > self.now {
                break;
            }
            let a = mul_div_down(w.qs, q, qs).unwrap();
            q -= a;
            qs -= w.qs;
        }
        (q, qs)
    }

    fn mature(&mut self, op: usize, max: usize) -> usize {
        let p = &mut self.pools[op];
        let start = p.head;
        while p.head < p.queue.len() && p.head - start < max {
            let w = &mut self.ws[p.queue[p.head]];
            if !w.finalized {
                if w.unlock > self.now {
                    break;
                }
                let a = mul_div_down(w.qs, p.q, p.qs).unwrap();
                p.q -= a;
                p.qs -= w.qs;
                w.assets = a;
                w.qs = U256::ZERO;
                w.finalized = true;
                p.events += 1;
            }
            p.head += 1;
        }
        p.head - start
    }

    fn deposit(&mut self, st: usize, op: usize, amount: U256) -> Result<U256, VaultError> {
        let p = &mut self.pools[op];
        let shares = checked(mul_div_down(amount, p.s + ONE, p.a + ONE))?;
        if shares.is_zero() {
            return Err(VaultError::ZeroShares(ZeroShares {}));
        }
        p.a = checked(p.a.checked_add(amount))?;
        p.s += shares;
        p.stakes[st] += shares;
        p.fair[st] += f(amount);
        p.events += 1;
        self.balance += amount;
        self.deposited[st] += amount;
        Ok(shares)
    }

    fn queue(&mut self, st: usize, op: usize, shares: U256) -> Result<U256, VaultError> {
        if shares.is_zero() {
            return Err(VaultError::ZeroShares(ZeroShares {}));
        }
        let unlock = self.now + self.delay;
        let id = self.ws.len();
        let p = &mut self.pools[op];
        let balance = p.stakes[st];
        if balance < shares {
            return Err(VaultError::InsufficientShares(InsufficientShares { balance, needed: shares }));
        }
        let assets = mul_div_down(shares, p.a, p.s).unwrap();
        if assets.is_zero() {
            return Err(VaultError::ZeroAssets(ZeroAssets {}));
        }
        let free = p.a.saturating_sub(p.locked);
        if assets > free {
            return Err(VaultError::InsufficientFreeStake(InsufficientFreeStake { free, needed: assets }));
        }
        let qsh = mul_div_down(assets, p.qs + ONE, p.q + ONE).unwrap();
        assert!(qsh >= assets, "queue pool price stays <= 1");
        let moved = p.fair[st] * f(shares) / f(balance);
        p.fair[st] -= moved;
        p.stakes[st] -= shares;
        p.a -= assets;
        p.s -= shares;
        p.q += assets;
        p.qs += qsh;
        p.queue.push(id);
        p.events += 1;
        self.ws.push(MWithdrawal {
            staker: st,
            op,
            unlock,
            qs: qsh,
            assets: U256::ZERO,
            finalized: false,
            claimed: false,
            fair: moved,
        });
        Ok(U256::from(id + 1))
    }

    /// Returns `(slashed, paid to beneficiary)`.
    fn slash(&mut self, op: usize, amount: U256, comp: U256, pay: bool) -> (U256, U256) {
        self.mature(op, usize::MAX);
        let p = &mut self.pools[op];
        let total = p.a + p.q;
        let slashed = amount.min(total);
        if !slashed.is_zero() {
            let ac = mul_div_up(slashed, p.a, total).unwrap().min(p.a);
            let qc = (slashed - ac).min(p.q);
            assert_eq!(ac + qc, slashed);
            // Pro rata: the active cut is the exact share rounded up.
            assert!(ac * total >= slashed * p.a);
            assert!(ac.is_zero() || (ac - ONE) * total < slashed * p.a);
            let (fa, fq) = (1.0 - f(ac) / f(p.a).max(1.0), 1.0 - f(qc) / f(p.q).max(1.0));
            for x in p.fair.iter_mut() {
                *x *= fa;
            }
            for &i in &p.queue {
                if !self.ws[i].finalized {
                    self.ws[i].fair *= fq;
                }
            }
            p.a -= ac;
            p.q -= qc;
            if p.locked > p.a {
                p.locked = p.a;
            }
            p.events += 1;
        }
        let paid = if pay { comp.min(slashed) } else { U256::ZERO };
        self.balance -= slashed;
        (slashed, paid)
    }

    fn claim(&mut self, i: usize, caller: Address) -> Result<U256, VaultError> {
        let id = U256::from(i + 1);
        let w = &self.ws[i];
        if caller != STAKERS[w.staker] {
            return Err(unauthorized_err(caller, roles::STAKER));
        }
        if w.claimed {
            return Err(VaultError::AlreadyClaimed(AlreadyClaimed { withdrawalId: id }));
        }
        if self.now < w.unlock {
            return Err(VaultError::WithdrawalNotReady(WithdrawalNotReady {
                unlockTime: U256::from(w.unlock),
            }));
        }
        let (st, op) = (w.staker, w.op);
        if !w.finalized {
            let p = &mut self.pools[op];
            let a = mul_div_down(self.ws[i].qs, p.q, p.qs).unwrap();
            p.q -= a;
            p.qs -= self.ws[i].qs;
            p.events += 1;
            let w = &mut self.ws[i];
            w.assets = a;
            w.qs = U256::ZERO;
            w.finalized = true;
        }
        let w = &mut self.ws[i];
        w.claimed = true;
        self.balance -= w.assets;
        self.paid[st] += w.assets;
        Ok(w.assets)
    }

    fn lock(&mut self, op: usize, amount: U256) -> Result<(), VaultError> {
        let p = &mut self.pools[op];
        let free = p.a.saturating_sub(p.locked);
        if amount > free {
            return Err(VaultError::InsufficientFreeStake(InsufficientFreeStake { free, needed: amount }));
        }
        p.locked += amount;
        Ok(())
    }
}

struct Harness {
    vm: TestVM,
    v: Vault,
    m: Model,
}

impl Harness {
    fn new() -> Self {
        let (vm, v) = setup();
        let m = Model { now: T0, delay: DELAY, ..Default::default() };
        Harness { vm, v, m }
    }

    fn step(&mut self, action: &Action) {
        let Harness { vm, v, m } = self;
        match *action {
            Action::Deposit { staker, op, amount } => {
                let amount = U256::from(amount);
                mock_in(vm, STAKERS[staker], amount, Ok(abi_bool(true)));
                vm.set_sender(STAKERS[staker]);
                let got = v.deposit(amount, OPS[op]);
                assert_eq!(got, m.deposit(staker, op, amount));
            }
            Action::Queue { staker, op, pct } => {
                let shares = m.pools[op].stakes[staker] * U256::from(pct) / U256::from(100);
                vm.set_sender(STAKERS[staker]);
                let got = v.queue_withdrawal(OPS[op], shares);
                assert_eq!(got, m.queue(staker, op, shares));
            }
            Action::Advance { secs } => {
                m.now += secs;
                vm.set_block_timestamp(m.now);
            }
            Action::Slash { op, amount, comp, pay } => {
                let amount = U256::from(amount);
                let comp = U256::from(comp);
                let beneficiary = if pay { VICTIM } else { Address::ZERO };
                let slashable = v.slashable_stake(OPS[op]);
                let before_stakers: Vec<U256> = (0..3).map(|s| v.assets_of(OPS[op], STAKERS[s])).collect();
                let (a0, _, _) = v.operator_stake(OPS[op]);
                let (q0, qs0) = m.preview(op);
                let (slashed, paid) = m.slash(op, amount, comp, pay);
                mock_out(vm, VICTIM, paid, Ok(abi_bool(true)));
                mock_out(vm, TREASURY, slashed - paid, Ok(abi_bool(true)));
                vm.set_sender(SLASHER);
                assert_eq!(v.slash(OPS[op], amount, EVIDENCE, beneficiary, comp), Ok(slashed));
                // Never more than the slashable stake; exactly min(amount, slashable).
                assert!(slashed <= slashable);
                assert_eq!(slashed, amount.min(slashable));
                assert_eq!(v.slashable_stake(OPS[op]), slashable - slashed);
                assert!(paid <= comp && paid <= slashed);
                let e = last_event::<Slashed>(vm);
                assert_eq!((e.slashed, e.compensationPaid), (slashed, paid));
                // Pro rata within rounding: each delegator keeps value * (A' / A).
                let (a1, _, _) = v.operator_stake(OPS[op]);
                if !a0.is_zero() {
                    let ratio = f(a1) / f(a0);
                    for (s, &b) in before_stakers.iter().enumerate() {
                        let after = f(v.assets_of(OPS[op], STAKERS[s]));
                        assert!(
                            (after - f(b) * ratio).abs() <= 1.0 + 1e-9 * f(b),
                            "delegator {s}: {b} -> {after}"
                        );
                    }
                }
                // ... and each queued withdrawal still in the queued pool keeps value * (Q' / Q).
                let q1 = m.pools[op].q;
                assert_eq!(m.pools[op].qs, qs0);
                if !q0.is_zero() {
                    let ratio = f(q1) / f(q0);
                    for w in m.ws.iter().filter(|w| w.op == op && !w.finalized) {
                        let before = mul_div_down(w.qs, q0, qs0).unwrap();
                        let after = mul_div_down(w.qs, q1, qs0).unwrap();
                        assert!(after <= before);
                        assert!((f(after) - f(before) * ratio).abs() <= 1.0 + 1e-9 * f(before));
                    }
                }
            }
            Action::Claim { pick, wrong_caller } => {
                if m.ws.is_empty() {
                    return;
                }
                let i = pick % m.ws.len();
                let staker = m.ws[i].staker;
                let caller = if wrong_caller { STAKERS[(staker + 1) % 3] } else { STAKERS[staker] };
                let was_claimed = m.ws[i].claimed;
                let expected = m.claim(i, caller);
                if let Ok(x) = expected {
                    mock_out(vm, caller, x, Ok(abi_bool(true)));
                    // No claim before the delay, none by another account, none twice.
                    assert!(m.now >= m.ws[i].unlock && !was_claimed && !wrong_caller);
                    let w = &m.ws[i];
                    let tol = 2.0 * (m.pools[w.op].events as f64 + 1.0) + 1e-9 * w.fair;
                    assert!(f(x) <= w.fair + tol, "paid {x} > fair {}", w.fair);
                }
                vm.set_sender(caller);
                assert_eq!(v.claim(U256::from(i + 1)), expected);
            }
            Action::Lock { op, amount } => {
                let amount = U256::from(amount);
                vm.set_sender(LOCKER);
                assert_eq!(v.lock(OPS[op], amount), m.lock(op, amount));
            }
            Action::Unlock { op, amount } => {
                let amount = U256::from(amount);
                vm.set_sender(LOCKER);
                v.unlock(OPS[op], amount).unwrap();
                m.pools[op].locked = m.pools[op].locked.saturating_sub(amount);
            }
            Action::Process { op, max } => {
                vm.set_sender(CAROL);
                let n = v.process_withdrawals(OPS[op], U256::from(max));
                assert_eq!(n, U256::from(m.mature(op, max as usize)));
            }
            Action::SetDelay { delay } => {
                vm.set_sender(OWNER);
                v.set_withdrawal_delay(delay).unwrap();
                m.delay = delay;
            }
        }
    }

    fn check(&self) {
        let Harness { v, m, .. } = self;
        let mut held = U256::ZERO;
        for (o, p) in m.pools.iter().enumerate() {
            let (q, qs) = m.preview(o);
            assert_eq!(v.operator_stake(OPS[o]), (p.a, q, p.locked));
            assert_eq!(v.operator_shares(OPS[o]), (p.s, qs));
            assert_eq!(v.slashable_stake(OPS[o]), p.a + q);
            assert_eq!(v.free_stake(OPS[o]), p.a - p.locked);
            assert_eq!(v.locked_stake(OPS[o]), p.locked);
            // Shares and assets consistent; pools never negative (U256 would have panicked).
            let mut shares = U256::ZERO;
            let mut assets = U256::ZERO;
            for s in 0..3 {
                assert_eq!(v.shares_of(OPS[o], STAKERS[s]), p.stakes[s]);
                let x = v.assets_of(OPS[o], STAKERS[s]);
                assert_eq!(x, mul_div_down(p.stakes[s], p.a, p.s).unwrap_or_default());
                shares += p.stakes[s];
                assets += x;
            }
            assert_eq!(shares, p.s);
            assert!(assets <= p.a);
            assert!(p.a <= p.s && p.q <= p.qs && p.locked <= p.a);
            let mut wshares = U256::ZERO;
            let mut wassets = U256::ZERO;
            for &i in &p.queue {
                let w = &m.ws[i];
                if !w.finalized {
                    wshares += w.qs;
                    wassets += mul_div_down(w.qs, p.q, p.qs).unwrap();
                }
            }
            assert_eq!(wshares, p.qs);
            assert!(wassets <= p.q);
            held += p.a + p.q;
        }
        for (i, w) in m.ws.iter().enumerate() {
            let p = &m.pools[w.op];
            let assets =
                if w.finalized { w.assets } else { mul_div_down(w.qs, p.q, p.qs).unwrap_or_default() };
            assert_eq!(
                v.withdrawal(U256::from(i + 1)),
                (STAKERS[w.staker], OPS[w.op], w.qs, assets, w.unlock, w.finalized, w.claimed)
            );
            if w.finalized && !w.claimed {
                held += w.assets;
            }
        }
        assert_eq!(v.withdrawal_count(), U256::from(m.ws.len()));
        // Conservation: every unit the vault holds is owed to someone, exactly.
        assert_eq!(m.balance, held);
        for s in 0..3 {
            assert!(m.paid[s] <= m.deposited[s]);
        }
    }
}

fn run(actions: &[Action]) {
    let mut h = Harness::new();
    for a in actions {
        h.step(a);
        h.check();
    }
}

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..4, 1u64..1_000, 1u64..1_000_000_000_000]
}

/// Weights: deposit, queue, advance, slash, claim, lock, unlock, process, set delay.
fn action(w: [u32; 9]) -> impl Strategy<Value = Action> {
    prop_oneof![
        w[0] => (0..3usize, 0..2usize, amount()).prop_map(|(staker, op, amount)| Action::Deposit { staker, op, amount }),
        w[1] => (0..3usize, 0..2usize, 0u8..=110).prop_map(|(staker, op, pct)| Action::Queue { staker, op, pct }),
        w[2] => prop_oneof![0u64..3_600, (DELAY - 10)..(DELAY + 10), 0..2 * DELAY].prop_map(|secs| Action::Advance { secs }),
        w[3] => (0..2usize, amount(), amount(), any::<bool>()).prop_map(|(op, amount, comp, pay)| Action::Slash { op, amount, comp, pay }),
        w[4] => (any::<usize>(), prop::bool::weighted(0.15)).prop_map(|(pick, wrong_caller)| Action::Claim { pick, wrong_caller }),
        w[5] => (0..2usize, amount()).prop_map(|(op, amount)| Action::Lock { op, amount }),
        w[6] => (0..2usize, amount()).prop_map(|(op, amount)| Action::Unlock { op, amount }),
        w[7] => (0..2usize, 0u8..4).prop_map(|(op, max)| Action::Process { op, max }),
        w[8] => ((WINDOW + 1)..(2 * DELAY)).prop_map(|delay| Action::SetDelay { delay }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Deposits, withdrawals and claims keep shares and assets consistent and conserved.
    #[test]
    fn shares_and_assets_stay_consistent(actions in prop::collection::vec(action([6, 4, 2, 1, 3, 1, 1, 1, 0]), 1..40)) {
        run(&actions);
    }

    /// Slashes never exceed the slashable stake and hit delegators and queued withdrawals
    /// pro rata.
    #[test]
    fn slash_is_capped_and_pro_rata(actions in prop::collection::vec(action([5, 4, 2, 4, 2, 1, 1, 1, 0]), 1..40)) {
        run(&actions);
    }

    /// No claim before the unlock time, by another account or twice, also when the
    /// withdrawal delay changes between withdrawals (entries matured out of FIFO order).
    #[test]
    fn claims_respect_delay_and_pay_once(actions in prop::collection::vec(action([4, 4, 3, 1, 5, 0, 0, 2, 1]), 1..40)) {
        run(&actions);
    }

    /// Rounding never pays a staker more than its deposits less its pro-rata slashes.
    #[test]
    fn payouts_never_exceed_fair_share(actions in prop::collection::vec(action([5, 4, 3, 3, 4, 1, 1, 1, 1]), 1..40)) {
        run(&actions);
    }
}

#[test]
fn single_staker_payout_is_exactly_bounded() {
    // A lone staker owns every share: it ends with exactly deposits - slashes.
    let mut h = Harness::new();
    let script = [
        Action::Deposit { staker: 0, op: 0, amount: 1_000 },
        Action::Queue { staker: 0, op: 0, pct: 33 },
        Action::Slash { op: 0, amount: 77, comp: 5, pay: true },
        Action::Deposit { staker: 0, op: 0, amount: 13 },
        Action::Queue { staker: 0, op: 0, pct: 100 },
        Action::Advance { secs: DELAY },
        Action::Claim { pick: 0, wrong_caller: false },
        Action::Claim { pick: 1, wrong_caller: false },
    ];
    for a in &script {
        h.step(a);
        h.check();
    }
    assert_eq!(h.m.paid[0], U256::from(1_013 - 77));
}
