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
}

/// TODO(settleBatch): remove this block and use `Market::settleBatchCall` /
/// `Market::ReportSettled` / `Market::ReportSkipped` once `settleBatch` lands in
/// `abi/Market.json`. Until then this is exactly the lead's fixed settlement ABI, nothing more.
pub mod settlement {
    #[cfg(feature = "rpc")]
    alloy::sol! {
        #[sol(rpc)]
        #[derive(Debug)]
        interface MarketSettlement {
            function settleBatch((uint256,address,bytes32,uint64,uint64,uint64,uint64,uint16,bytes32,uint256)[] reports, bytes[] signatures) returns (uint256 settled);
            event ReportSettled(uint256 indexed jobId, address indexed provider, uint256 indexed nonce, uint64 gpuSecondsBurned, uint64 secondsRefunded, bytes32 evidenceDigest);
            event ReportSkipped(uint256 indexed jobId, address indexed provider, uint256 indexed nonce, uint8 reason);
        }
    }
    #[cfg(not(feature = "rpc"))]
    alloy::sol! {
        #[derive(Debug)]
        interface MarketSettlement {
            function settleBatch((uint256,address,bytes32,uint64,uint64,uint64,uint64,uint16,bytes32,uint256)[] reports, bytes[] signatures) returns (uint256 settled);
            event ReportSettled(uint256 indexed jobId, address indexed provider, uint256 indexed nonce, uint64 gpuSecondsBurned, uint64 secondsRefunded, bytes32 evidenceDigest);
            event ReportSkipped(uint256 indexed jobId, address indexed provider, uint256 indexed nonce, uint8 reason);
        }
    }

    use crate::report::UsageReport;
    use alloy::primitives::{Address, Bytes, FixedBytes, U256};

    /// The settlement tuple for a report (field order = the EIP-712 struct).
    pub type ReportTuple = (U256, Address, FixedBytes<32>, u64, u64, u64, u64, u16, FixedBytes<32>, U256);

    pub fn report_tuple(r: &UsageReport) -> ReportTuple {
        (
            r.jobId,
            r.provider,
            r.gpuUuidHash,
            r.startTs,
            r.endTs,
            r.gpuSeconds,
            r.energyMilliJoules,
            r.avgUtilBps,
            r.evidenceDigest,
            r.nonce,
        )
    }

    /// Build the `settleBatch` call for signed reports.
    pub fn settle_batch_call(
        reports: &[(UsageReport, crate::ReportSignature)],
    ) -> MarketSettlement::settleBatchCall {
        MarketSettlement::settleBatchCall {
            reports: reports.iter().map(|(r, _)| report_tuple(r)).collect(),
            signatures: reports.iter().map(|(_, s)| Bytes::copy_from_slice(s.as_bytes())).collect(),
        }
    }

    /// Why the market skipped a report (`ReportSkipped.reason`), fixed by the lead.
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
        fn selector_and_topics_follow_the_fixed_abi() {
            let sig = "settleBatch((uint256,address,bytes32,uint64,uint64,uint64,uint64,uint16,bytes32,uint256)[],bytes[])";
            assert_eq!(MarketSettlement::settleBatchCall::SELECTOR, alloy::primitives::keccak256(sig)[..4]);
            assert_eq!(
                MarketSettlement::ReportSettled::SIGNATURE_HASH,
                alloy::primitives::keccak256("ReportSettled(uint256,address,uint256,uint64,uint64,bytes32)")
            );
            assert_eq!(
                MarketSettlement::ReportSkipped::SIGNATURE_HASH,
                alloy::primitives::keccak256("ReportSkipped(uint256,address,uint256,uint8)")
            );
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
