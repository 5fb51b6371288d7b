// Loads and checks deployments/<network>.json, the deployer's record (scripts/deploy).
import { getAddress, isAddress, isHex, type Address, type Hex } from 'viem';
import type { Network } from './config';

export interface ClassRecord {
  name: string;
  classId: Hex;
  symbol: string;
  token: Address;
  evidenceKinds: number;
}

export interface PoolRecord {
  class: string;
  token: Address;
  quote: Address;
  fee: number;
  poolId: Hex;
}

export interface Deployment {
  network: string;
  chainId: number;
  contracts: Record<string, { address: Address; package: string; block: number }>;
  external: Record<string, Address>;
  classes: ClassRecord[];
  pools: PoolRecord[];
}

export class DeploymentError extends Error {}

/** Address of a deployed contract (`contracts`) or of an external one (`external`). */
export function addressOf(d: Deployment, key: string): Address | undefined {
  return d.contracts[key]?.address ?? d.external[key];
}

export function requireAddress(d: Deployment, key: string): Address {
  const a = addressOf(d, key);
  if (!a) throw new DeploymentError(`the ${d.network} deployment has no \`${key}\``);
  return a;
}

/** Whether a contract is a faucet mock (devnet stablecoin and collateral). */
export function isMock(d: Deployment, key: string): boolean {
  return d.contracts[key]?.package === 'mock-erc20';
}

function addr(v: unknown, where: string): Address {
  if (typeof v !== 'string' || !isAddress(v, { strict: false })) throw new DeploymentError(`${where}: not an address`);
  return getAddress(v);
}

function hex32(v: unknown, where: string): Hex {
  if (typeof v !== 'string' || !isHex(v) || v.length !== 66) throw new DeploymentError(`${where}: not a 32-byte hex value`);
  return v;
}

/** Validates the record's shape, so a stale or hand-edited file fails with a clear message. */
export function parseDeployment(raw: unknown, net: Network): Deployment {
  const r = raw as Record<string, any>;
  if (!r || typeof r !== 'object') throw new DeploymentError('not a JSON object');
  if (r.chainId !== net.chain.id) {
    throw new DeploymentError(`the record is for chain ${r.chainId}, the dApp expects ${net.chain.id} for ${net.key}`);
  }
  const contracts: Deployment['contracts'] = {};
  for (const [k, c] of Object.entries<any>(r.contracts ?? {})) {
    contracts[k] = { address: addr(c?.address, `contracts.${k}.address`), package: String(c?.package ?? ''), block: Number(c?.block ?? 0) };
  }
  const external: Record<string, Address> = {};
  for (const [k, a] of Object.entries(r.external ?? {})) external[k] = addr(a, `external.${k}`);
  const classes = (Array.isArray(r.classes) ? r.classes : []).map((c: any, i: number) => ({
    name: String(c.name),
    classId: hex32(c.classId, `classes[${i}].classId`),
    symbol: String(c.symbol),
    token: addr(c.token, `classes[${i}].token`),
    evidenceKinds: Number(c.evidenceKinds ?? 0),
  }));
  const pools = (Array.isArray(r.pools) ? r.pools : []).map((p: any, i: number) => ({
    class: String(p.class),
    token: addr(p.token, `pools[${i}].token`),
    quote: addr(p.quote, `pools[${i}].quote`),
    fee: Number(p.fee),
    poolId: hex32(p.poolId, `pools[${i}].poolId`),
  }));
  return { network: String(r.network ?? net.key), chainId: r.chainId, contracts, external, classes, pools };
}

export async function loadDeployment(net: Network): Promise<Deployment> {
  const url = new URL(`/deployments/${net.key}.json`, location.href);
  let res: Response;
  try {
    res = await fetch(url, { cache: 'no-store' });
  } catch (e) {
    throw new DeploymentError(`could not fetch ${url.pathname}: ${(e as Error).message}`);
  }
  if (res.status === 404) {
    throw new DeploymentError(`no deployment for ${net.key}: run the deployer (deployments/${net.key}.json is missing)`);
  }
  if (!res.ok) throw new DeploymentError(`${url.pathname}: HTTP ${res.status}`);
  return parseDeployment(await res.json(), net);
}
