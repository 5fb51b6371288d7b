// The networks the dApp can use. Chain ids and RPC URLs only: contract addresses come from
// deployments/<network>.json (see deployment.ts).
import { defineChain, type Chain } from 'viem';

export interface Network {
  /** Name of the deployment record: deployments/<key>.json. */
  key: 'devnet' | 'arbitrum-sepolia';
  chain: Chain;
  /** URL the wallet is given (wallet_addEthereumChain). */
  walletRpcUrl: string;
  /** URL the page reads through (same-origin proxy for the devnet, which has no CORS). */
  readRpcUrl: string;
  /** Whether the collateral and stablecoin are faucet mocks (devnet). */
  faucet: boolean;
}

const devnetRpc = import.meta.env.VITE_RPC_URL ?? 'http://127.0.0.1:8547';
const devnetId = Number(import.meta.env.VITE_CHAIN_ID ?? 412346);

const devnetChain = defineChain({
  id: devnetId,
  name: 'GPU AMM devnet',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: [devnetRpc] } },
});

const sepoliaChain = defineChain({
  id: 421614,
  name: 'Arbitrum Sepolia',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: ['https://sepolia-rollup.arbitrum.io/rpc'] } },
  blockExplorers: { default: { name: 'Arbiscan', url: 'https://sepolia.arbiscan.io' } },
});

export const NETWORKS: Network[] = [
  {
    key: 'devnet',
    chain: devnetChain,
    walletRpcUrl: devnetRpc,
    readRpcUrl: new URL('/rpc', location.href).href,
    faucet: true,
  },
  {
    key: 'arbitrum-sepolia',
    chain: sepoliaChain,
    walletRpcUrl: sepoliaChain.rpcUrls.default.http[0],
    readRpcUrl: sepoliaChain.rpcUrls.default.http[0],
    faucet: false,
  },
];

/** The relayer's HTTP API (spec store), through the dev server's proxy. */
export const RELAYER_URL = new URL('/relayer', location.href).href.replace(/\/$/, '');

export function networkByChainId(id: number | undefined): Network | undefined {
  return NETWORKS.find((n) => n.chain.id === id);
}
