//! Property tests, 1,000 random cases each.

use super::*;

#[derive(Debug, Clone)]
struct Entry {
    /// Index into the pool of reports.
    pick: usize,
    /// Sign with the provider's key (else another key).
    right_key: bool,
}

/// Six back-to-back windows on one GPU, nonces 0..6, plus a seventh report that claims
/// the first window again under nonce 100 (a conflict when it follows report 0).
fn pool() -> Vec<UsageReport> {
    let mut v: Vec<_> =
        (0..6u64).map(|i| report(ACCEPTED_AT + 100 * i, ACCEPTED_AT + 100 * i + 100, 50 + i, i)).collect();
    v.push(report(ACCEPTED_AT, ACCEPTED_AT + 100, 60, 100));
    v
}

fn entry() -> impl Strategy<Value = Entry> {
    (0..7usize, prop::bool::weighted(0.85)).prop_map(|(pick, right_key)| Entry { pick, right_key })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Random batches from random senders: only relayers get anything done, every entry
    /// gets exactly one outcome event, the return value counts the settled ones, a report
    /// signed by another key never settles, and no (provider, nonce) ever settles twice.
    #[test]
    fn no_report_settles_twice_and_only_relayers_settle(
        batches in proptest::collection::vec((any::<bool>(), proptest::collection::vec(entry(), 0..6)), 1..6)
    ) {
        let h = host();
        let mut s = settlement(&h);
        h.mock_static_call(REGISTRY, Registry::isRelayerCall { relayer: BUYER }.abi_encode(), Ok(false.abi_encode()));
        let pool = pool();
        for r in &pool {
            market_settles(&h, u(1), r.gpuSeconds, false, ESCROW);
            expect_fault_slash(&h, r, ESCROW);
        }
        let mut settled_nonces: Vec<U256> = Vec::new();
        for (by_relayer, entries) in batches {
            let from = h.get_emitted_logs().len();
            let reports: Vec<UsageReport> = entries.iter().map(|e| pool[e.pick].clone()).collect();
            let sigs: Vec<Bytes> = entries
                .iter()
                .map(|e| sign_with(&h, &pool[e.pick], if e.right_key { KEY_SEED } else { 0x33 }, CHAIN, MARKET))
                .collect();
            h.set_sender(if by_relayer { RELAYER } else { BUYER });
            let res = call_batch(&mut s, reports, sigs);
            let seen = outcomes(&h, from);
            if !by_relayer {
                prop_assert_eq!(res, Err(SettlementError::NotRelayer(NotRelayer { caller: BUYER })));
                prop_assert!(seen.is_empty());
                continue;
            }
            prop_assert_eq!(seen.len(), entries.len());
            let mut count = 0u64;
            for (e, o) in entries.iter().zip(&seen) {
                if let Seen::Settled(nonce, ..) = o {
                    count += 1;
                    prop_assert!(e.right_key, "a report signed by another key settled");
                    prop_assert!(!settled_nonces.contains(nonce), "nonce {} settled twice", nonce);
                    settled_nonces.push(*nonce);
                }
            }
            prop_assert_eq!(res, Ok(u(count)));
        }
        for n in &settled_nonces {
            prop_assert!(s.nonce_used(PROVIDER, *n));
        }
    }

    /// A report settles only when signed by the provider's registered key for this chain
    /// and this market; any other key, chain, market or a flipped signature bit is
    /// skipped as BAD_SIGNATURE and never reaches the market.
    #[test]
    fn wrong_key_or_cross_chain_signature_never_settles(
        start in 0u64..5_000,
        len in 1u64..1_000,
        seconds in 0u64..1_000,
        nonce in any::<u64>(),
        energy in any::<u64>(),
        util in 0u16..=10_000,
        seed in prop_oneof![Just(KEY_SEED), 1u8..=0xfe],
        chain in prop_oneof![Just(CHAIN), Just(421614u64), any::<u64>()],
        market in prop_oneof![Just(MARKET), Just(SETTLEMENT), any::<[u8; 20]>().prop_map(Address::from)],
        flip in prop::option::weighted(0.2, 0usize..512),
    ) {
        let h = host();
        let mut s = settlement(&h);
        let mut r = report(ACCEPTED_AT + start, ACCEPTED_AT + start + len, seconds.min(len), nonce);
        r.energyMilliJoules = energy;
        r.avgUtilBps = util;
        let mut sig = sign_with(&h, &r, seed, chain, market).to_vec();
        if let Some(bit) = flip {
            sig[bit / 8] ^= 1 << (bit % 8);
            mock_precompile(&h, digest_of(&r, CHAIN, MARKET), &sig);
        }
        market_settles(&h, u(1), r.gpuSeconds, false, ESCROW);
        let genuine = seed == KEY_SEED && chain == CHAIN && market == MARKET && flip.is_none();
        let outcome = settle_one(&h, &mut s, r.clone(), Bytes::from(sig));
        if genuine {
            prop_assert_eq!(outcome, Seen::Settled(u(nonce), r.gpuSeconds, 0));
        } else {
            prop_assert_eq!(outcome, Seen::Skipped(u(nonce), reason::BAD_SIGNATURE));
            prop_assert!(market_calls(&h).is_empty());
            prop_assert!(!s.nonce_used(PROVIDER, u(nonce)));
        }
    }
}
