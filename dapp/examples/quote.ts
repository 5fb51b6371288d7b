// An integrator's first call: quote 1 USDC of H100-seconds from the AMM, with viem and the
// generated ABI, at the addresses the deployer recorded. Run it against a running devnet:
//   npm run example --prefix dapp            (after `bash scripts/run.sh`)
import { readFileSync } from 'node:fs';
import { createPublicClient, encodePacked, http, type Abi, type Address } from 'viem';
import amm from '../../abi/Amm.json' with { type: 'json' };

const record = JSON.parse(readFileSync(process.env.DEPLOYMENT ?? new URL('../../deployments/devnet.json', import.meta.url), 'utf8'));
const usdc: Address = record.contracts.stablecoin.address;
const h100s: Address = record.contracts['token:H100-SXM5-80GB'].address;
const client = createPublicClient({ transport: http(process.env.RPC_URL ?? 'http://127.0.0.1:8547') });

// A swap path is packed: token, uint16 fee tier (bps), token.
const path = encodePacked(['address', 'uint16', 'address'], [usdc, 30, h100s]);
const amounts = (await client.readContract({
  address: record.contracts.amm.address,
  abi: amm as Abi,
  functionName: 'getAmountsOut',
  args: [path, 1_000_000n], // 1 USDC (6 decimals)
})) as bigint[];
console.log(`1 USDC buys ${amounts[1]} H100-seconds right now`);
