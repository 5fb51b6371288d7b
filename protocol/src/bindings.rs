//! alloy bindings generated at compile time from the checked-in JSON ABIs in `abi/` (the same
//! files CI checks fresh against the contracts), so a contract change that alters the ABI
//! changes these types too. With the `rpc` feature (default) each module also has a
//! `::new(address, provider)` contract instance.

macro_rules! abi_bindings {
    ($($name:ident => $path:literal),* $(,)?) => {
        $(
            #[cfg(feature = "rpc")]
            alloy::sol!(
                #[allow(missing_docs, clippy::too_many_arguments)]
                #[sol(rpc)]
                #[derive(Debug)]
                $name,
                $path
            );
            #[cfg(not(feature = "rpc"))]
            alloy::sol!(
                #[allow(missing_docs, clippy::too_many_arguments)]
                #[derive(Debug)]
                $name,
                $path
            );
        )*
    };
}

abi_bindings! {
    Market => "../abi/Market.json",
    Registry => "../abi/Registry.json",
    ComputeToken => "../abi/ComputeToken.json",
    Vault => "../abi/Vault.json",
    SlashCourt => "../abi/SlashCourt.json",
    Settlement => "../abi/Settlement.json",
}

/// Helpers around the generated [`Settlement`] binding (`settleBatch`, `ReportSettled`,
/// `ReportSkipped`, `nonceUsed`), which is generated from `abi/Settlement.json` like the
/// others: the settlement contract is where `settleBatch` lives (beside the market).
pub mod settlement {
    pub use super::{ISettlement, Settlement};

    use crate::report::UsageReport;
    use alloy::primitives::Bytes;

    /// The ABI struct for a report (same fields and order as the EIP-712 struct; the ABI
    /// names it `ISettlement.UsageReport`, so `sol!` puts it in module `ISettlement`).
    pub fn report_struct(r: &UsageReport) -> ISettlement::UsageReport {
        ISettlement::UsageReport {
            jobId: r.jobId,
            provider: r.provider,
            gpuUuidHash: r.gpuUuidHash,
            startTs: r.startTs,
            endTs: r.endTs,
            gpuSeconds: r.gpuSeconds,
            energyMilliJoules: r.energyMilliJoules,
            avgUtilBps: r.avgUtilBps,
            evidenceDigest: r.evidenceDigest,
            nonce: r.nonce,
        }
    }

    /// Build the `settleBatch` call for signed reports.
    pub fn settle_batch_call(
        reports: &[(UsageReport, crate::ReportSignature)],
    ) -> Settlement::settleBatchCall {
        Settlement::settleBatchCall {
            reports: reports.iter().map(|(r, _)| report_struct(r)).collect(),
            signatures: reports.iter().map(|(_, s)| Bytes::copy_from_slice(s.as_bytes())).collect(),
        }
    }

    /// Why the market skipped a report (`ReportSkipped.reason`); the codes of
    /// `contracts/settlement` (`rules::reason`), which the ABI does not carry.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[repr(u8)]
    pub enum SkipReason {
        /// Malformed, high-s, or not by the provider's registered signing key.
        BadSignature = 1,
        NonceUsed = 2,
        /// Unknown, not accepted, or closed job.
        JobNotSettleable = 3,
        WrongProvider = 4,
        OutsideJobWindow = 5,
        /// Past the class's max report delay.
        ReportTooLate = 6,
        /// The provider was auto-slashed.
        ImpossibleUsage = 7,
        /// The provider was auto-slashed.
        ConflictingReport = 8,
        /// gpuUuidHash is not registered to the provider.
        UnknownGpu = 9,
    }

    impl SkipReason {
        pub fn from_code(code: u8) -> Option<Self> {
            use SkipReason::*;
            [
                BadSignature,
                NonceUsed,
                JobNotSettleable,
                WrongProvider,
                OutsideJobWindow,
                ReportTooLate,
                ImpossibleUsage,
                ConflictingReport,
                UnknownGpu,
            ]
            .into_iter()
            .find(|r| *r as u8 == code)
        }

        /// Whether the market slashed the provider for this report.
        pub fn slashed_provider(self) -> bool {
            matches!(self, Self::ImpossibleUsage | Self::ConflictingReport)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use alloy::sol_types::{SolCall, SolEvent};

        #[test]
        fn selector_and_topics_follow_the_settlement_abi() {
            let sig = "settleBatch((uint256,address,bytes32,uint64,uint64,uint64,uint64,uint16,bytes32,uint256)[],bytes[])";
            assert_eq!(Settlement::settleBatchCall::SELECTOR, alloy::primitives::keccak256(sig)[..4]);
            assert_eq!(
                Settlement::ReportSettled::SIGNATURE_HASH,
                alloy::primitives::keccak256("ReportSettled(uint256,address,uint256,uint64,uint64,bytes32)")
            );
            assert_eq!(
                Settlement::ReportSkipped::SIGNATURE_HASH,
                alloy::primitives::keccak256("ReportSkipped(uint256,address,uint256,uint8)")
            );
        }

        #[test]
        fn the_abi_struct_is_the_eip712_report_field_for_field() {
            use alloy::sol_types::SolStruct;
            let r = UsageReport {
                jobId: alloy::primitives::U256::from(7),
                provider: alloy::primitives::Address::repeat_byte(1),
                gpuUuidHash: alloy::primitives::B256::repeat_byte(2),
                startTs: 3,
                endTs: 4,
                gpuSeconds: 5,
                energyMilliJoules: 6,
                avgUtilBps: 8,
                evidenceDigest: alloy::primitives::B256::repeat_byte(9),
                nonce: alloy::primitives::U256::from(10),
            };
            // Same type string and same encoded data: the contract verifies exactly what the
            // provider signed.
            let s = report_struct(&r);
            assert_eq!(s.eip712_type_hash(), r.eip712_type_hash());
            assert_eq!(s.eip712_hash_struct(), r.eip712_hash_struct());
        }

        #[test]
        fn skip_codes() {
            for c in 1..=9u8 {
                assert_eq!(SkipReason::from_code(c).map(|r| r as u8), Some(c));
            }
            assert_eq!(SkipReason::from_code(0), None);
            assert_eq!(SkipReason::from_code(10), None);
            assert!(SkipReason::ConflictingReport.slashed_provider());
            assert!(!SkipReason::NonceUsed.slashed_provider());
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy::sol_types::SolCall;

    #[test]
    fn generated_calls_match_the_abi_files() {
        // Spot checks that the JSON was read (not hand-written): selectors of functions in it.
        assert_eq!(
            super::Market::acceptJobCall::SELECTOR,
            alloy::primitives::keccak256("acceptJob(uint256)")[..4]
        );
        assert_eq!(
            super::Registry::isRelayerCall::SELECTOR,
            alloy::primitives::keccak256("isRelayer(address)")[..4]
        );
        assert_eq!(
            super::ComputeToken::balanceOfCall::SELECTOR,
            alloy::primitives::keccak256("balanceOf(address)")[..4]
        );
    }
}
