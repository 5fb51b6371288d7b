// AMM helpers shared by the Swap and Pools pages: packed paths, pool discovery, quotes.
import { encodePacked, getAddress, zeroAddress, type Address, type Hex } from 'viem';
import type { Ctx } from './app';
import { abis } from './contracts';

export const FEE_TIERS = [5, 30, 100] as const;

/** `abi.encodePacked(tokenIn, uint16 feeBps, tokenOut, ...)`, the AMM's path format. */
export function encodePath(tokens: Address[], fees: number[]): Hex {
  if (tokens.length < 2 || fees.length !== tokens.length - 1) throw new Error('a path needs n tokens and n-1 fees');
  const types: ('address' | 'uint16')[] = [];
  const values: (Address | number)[] = [];
  tokens.forEach((t, i) => {
    types.push('address');
    values.push(t);
    if (i < fees.length) {
      types.push('uint16');
      values.push(fees[i]);
    }
  });
  return encodePacked(types, values);
}

export interface Pool {
  id: bigint;
  token0: Address;
  token1: Address;
  fee: number;
  reserve0: bigint;
  reserve1: bigint;
  timestampLast: bigint;
}

export function ammAddress(ctx: Ctx): Address | undefined {
  return ctx.deployment.contracts.amm?.address;
}

export async function readPool(ctx: Ctx, amm: Address, id: bigint): Promise<Pool | undefined> {
  const [token0, token1, fee] = (await ctx.client.readContract({ address: amm, abi: abis.amm, functionName: 'getPool', args: [id] })) as readonly [Address, Address, number];
  if (token0 === zeroAddress) return undefined;
  const [reserve0, reserve1, timestampLast] = (await ctx.client.readContract({ address: amm, abi: abis.amm, functionName: 'getReserves', args: [id] })) as readonly [bigint, bigint, bigint];
  return { id, token0: getAddress(token0), token1: getAddress(token1), fee: Number(fee), reserve0, reserve1, timestampLast };
}

/** Every pool of a class token against the stablecoin, over the fee tiers. */
export async function listPools(ctx: Ctx, amm: Address): Promise<Pool[]> {
  const stable = ctx.deployment.contracts.stablecoin?.address ?? ctx.deployment.external.stablecoin;
  if (!stable) return [];
  const seen = new Set<bigint>();
  const pools: Pool[] = [];
  for (const c of ctx.deployment.classes) {
    for (const fee of FEE_TIERS) {
      const id = (await ctx.client.readContract({ address: amm, abi: abis.amm, functionName: 'poolId', args: [c.token, stable, fee] })) as bigint;
      if (seen.has(id)) continue;
      seen.add(id);
      const p = await readPool(ctx, amm, id);
      if (p) pools.push(p);
    }
  }
  return pools;
}

/** Best pool for a pair: the one with the deepest reserve of `tokenIn`. */
export function bestPool(pools: Pool[], a: Address, b: Address): Pool | undefined {
  const matching = pools.filter((p) => (p.token0 === a && p.token1 === b) || (p.token0 === b && p.token1 === a));
  return matching.sort((x, y) => Number(reserveOf(y, a) - reserveOf(x, a)))[0];
}

export function reserveOf(p: Pool, token: Address): bigint {
  return p.token0 === token ? p.reserve0 : p.reserve1;
}

/** Price impact in basis points of trading `amountIn` for `amountOut` against the pool's
 * reserves, the fee excluded: how far the execution price falls below the mid price. */
export function priceImpactBps(p: Pool, tokenIn: Address, amountIn: bigint, amountOut: bigint): number {
  const rin = reserveOf(p, tokenIn);
  const rout = p.token0 === tokenIn ? p.reserve1 : p.reserve0;
  if (rin === 0n || rout === 0n || amountIn === 0n) return 0;
  const inAfterFee = (amountIn * BigInt(10_000 - p.fee)) / 10_000n;
  if (inAfterFee === 0n) return 0;
  // exec/mid = (out / inAfterFee) / (rout / rin) = out * rin / (inAfterFee * rout)
  const ratio = (amountOut * rin * 10_000n) / (inAfterFee * rout);
  return Math.max(0, 10_000 - Number(ratio));
}

/** Applies slippage tolerance `bps`: the minimum accepted (down) or maximum paid (up). */
export function withSlippage(amount: bigint, bps: number, direction: 'down' | 'up'): bigint {
  return direction === 'down' ? (amount * BigInt(10_000 - bps)) / 10_000n : (amount * BigInt(10_000 + bps) + 9_999n) / 10_000n;
}
