// The AMM's ABI: both of its programs at the one `amm` address (generated into
// abi/Amm.json by `cargo run -p xtask -- abi`), custom errors included.
import type { Abi } from 'viem';
import amm from '../../../abi/Amm.json';

export const ammAbi = amm as Abi;
