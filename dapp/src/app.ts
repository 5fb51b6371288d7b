// The state every page works with, and the one path every transaction takes: simulate
// (decoding a revert before the wallet is asked), sign in the wallet, wait for the receipt.
import {
  erc20Abi,
  type Abi,
  type Address,
  type Hash,
  type PublicClient,
  type TransactionReceipt,
  type WalletClient,
} from 'viem';
import type { Network } from './config';
import { withAllErrors } from './contracts';
import type { Deployment } from './deployment';
import { errorMessage } from './errors';
import { h } from './ui';
import type { Wallet } from './wallet';

export interface Ctx {
  net: Network;
  deployment: Deployment;
  client: PublicClient;
  wallet: Wallet | undefined;
  /** Set only when a wallet is connected on `net`'s chain: pages may write. */
  account: Address | undefined;
  walletClient: WalletClient | undefined;
  /** Re-renders the current page. */
  refresh(): void;
  /** The transaction status line under the navigation; it outlives page re-renders. */
  progress: Progress;
}

export interface Call {
  address: Address;
  abi: Abi;
  functionName: string;
  args?: readonly unknown[];
}

/** Progress line under the page ("data-state": signing, pending, success, error). */
export class Progress {
  readonly el = h('div', { class: 'progress', 'data-testid': 'tx-status', 'data-state': 'idle' });

  set(state: 'signing' | 'pending' | 'success' | 'error' | 'idle', text: string, hash?: Hash) {
    this.el.dataset.state = state;
    this.el.className = `progress ${state}`;
    this.el.replaceChildren(h('span', { 'data-testid': state === 'error' ? 'error' : 'tx-text' }, text));
    if (hash) this.el.append(' ', h('code', { class: 'hash', title: hash }, `${hash.slice(0, 10)}…`));
  }

  error(e: unknown) {
    this.set('error', errorMessage(e));
  }

  /** Shows `e` unless the step that threw it already reported it (with its label). */
  fail(e: unknown) {
    if (!(typeof e === 'object' && e !== null && reported.has(e))) this.error(e);
  }
}

/** Errors already shown on the progress line by the step that raised them. */
const reported = new WeakSet<object>();

/** Marks `e` as shown, so the caller's catch-all does not replace the message. */
export function markReported(e: unknown) {
  if (typeof e === 'object' && e !== null) reported.add(e);
}

export class NotReady extends Error {}

/** What a page says where it needs a wallet on its chain to `what` (e.g. "deposit"). */
export function walletHint(ctx: Ctx, what: string): string {
  return ctx.wallet?.account ? `Switch your wallet to ${ctx.net.chain.name} to ${what}.` : `Connect a wallet to ${what}.`;
}

export function requireAccount(ctx: Ctx): { account: Address; walletClient: WalletClient } {
  if (!ctx.account || !ctx.walletClient) throw new NotReady(`Connect a wallet on ${ctx.net.chain.name} first.`);
  return { account: ctx.account, walletClient: ctx.walletClient };
}

/** Sends one contract call through the wallet, reporting each step on `progress`.
 * Throws (after reporting) on rejection or revert. */
export async function send(ctx: Ctx, progress: Progress, label: string, call: Call): Promise<TransactionReceipt> {
  const { account, walletClient } = requireAccount(ctx);
  const abi = withAllErrors(call.abi);
  try {
    progress.set('signing', `${label}: checking…`);
    const { request } = await ctx.client.simulateContract({
      address: call.address,
      abi,
      functionName: call.functionName,
      args: call.args ?? [],
      account,
    } as never);
    // A 25% margin over the estimate: an AMM pool's first touch in a new block also writes an
    // oracle observation, which an estimate made against the previous block does not include.
    const estimate = await ctx.client.estimateContractGas({
      address: call.address,
      abi,
      functionName: call.functionName,
      args: call.args ?? [],
      account,
    } as never);
    progress.set('signing', `${label}: confirm in your wallet…`);
    const hash = await walletClient.writeContract({
      ...(request as object),
      account,
      chain: ctx.net.chain,
      gas: (estimate * 125n) / 100n,
    } as never);
    progress.set('pending', `${label}: waiting for the block…`, hash);
    const receipt = await ctx.client.waitForTransactionReceipt({ hash, pollingInterval: 500 });
    if (receipt.status !== 'success') throw new Error(`${label}: the transaction reverted on chain (${hash})`);
    progress.set('success', `${label}: confirmed in block ${receipt.blockNumber}.`, hash);
    return receipt;
  } catch (e) {
    progress.set('error', `${label} failed. ${errorMessage(e)}`);
    markReported(e);
    throw e;
  }
}

export interface TokenInfo {
  address: Address;
  symbol: string;
  decimals: number;
}

const tokenCache = new Map<string, TokenInfo>();

export async function tokenInfo(ctx: Ctx, address: Address): Promise<TokenInfo> {
  const key = `${ctx.net.chain.id}:${address.toLowerCase()}`;
  const hit = tokenCache.get(key);
  if (hit) return hit;
  const [symbol, decimals] = await Promise.all([
    ctx.client.readContract({ address, abi: erc20Abi, functionName: 'symbol' }),
    ctx.client.readContract({ address, abi: erc20Abi, functionName: 'decimals' }),
  ]);
  const info = { address, symbol, decimals };
  tokenCache.set(key, info);
  return info;
}

export function balanceOf(ctx: Ctx, token: Address, owner: Address): Promise<bigint> {
  return ctx.client.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [owner] });
}

/** Approves `spender` for exactly `amount` when the allowance is short. */
export async function ensureAllowance(ctx: Ctx, progress: Progress, token: TokenInfo, spender: Address, amount: bigint): Promise<void> {
  const { account } = requireAccount(ctx);
  const allowance = await ctx.client.readContract({ address: token.address, abi: erc20Abi, functionName: 'allowance', args: [account, spender] });
  if (allowance >= amount) return;
  await send(ctx, progress, `Approve ${token.symbol}`, { address: token.address, abi: erc20Abi as Abi, functionName: 'approve', args: [spender, amount] });
}

/** Latest block's timestamp: the chain's "now" (the devnet's clock may differ from ours). */
export async function chainNow(ctx: Ctx): Promise<bigint> {
  return (await ctx.client.getBlock({ blockTag: 'latest' })).timestamp;
}
