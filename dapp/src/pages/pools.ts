// Pools: reserves, a TWAP price chart from the AMM's observations, the user's LP position,
// adding and removing liquidity.
import type { Address } from 'viem';
import { chainNow, ensureAllowance, requireAccount, send, tokenInfo, type Ctx, type TokenInfo } from '../app';
import { ammAddress, listPools, withSlippage, type Pool } from '../amm';
import { abis } from '../contracts';
import { errorMessage } from '../errors';
import { field, fmt, h, parseAmount, section } from '../ui';

const Q112 = 2n ** 112n;
/** The chart: one TWAP point per step over the window (seconds). */
const CHART_WINDOW = 3600;
const CHART_POINTS = 12;

/** Average price of token0 in token1 over each interval, from cumulative UQ112x112 prices,
 * scaled to human units (10^d0 / 10^d1). */
export function twapSeries(cumulatives: readonly bigint[], secondsAgos: readonly number[], d0: number, d1: number): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < cumulatives.length; i++) {
    const dt = BigInt(secondsAgos[i] - secondsAgos[i + 1]);
    if (dt <= 0n) continue;
    const avg = (cumulatives[i + 1] - cumulatives[i]) / dt; // UQ112x112
    // price in human units = avg / 2^112 * 10^(d0 - d1); keep 1e12 of precision in bigint.
    const scaled = (avg * 10n ** 12n * 10n ** BigInt(Math.max(0, d0 - d1))) / (Q112 * 10n ** BigInt(Math.max(0, d1 - d0)));
    out.push(Number(scaled) / 1e12);
  }
  return out;
}

function chart(values: number[]): HTMLElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'chart');
  svg.setAttribute('viewBox', '0 0 400 180');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('data-testid', 'twap-chart');
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || Math.abs(max) || 1;
  const pts = values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * 390 + 5},${170 - ((v - min) / span) * 150}`).join(' ');
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', pts);
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', '#3b6cf6');
  line.setAttribute('stroke-width', '2');
  svg.append(line);
  // Labels in HTML: the SVG stretches to the card's width, which would distort text.
  return h('div', {}, svg, h('small', { class: 'muted' }, `low ${min.toPrecision(6)} · high ${max.toPrecision(6)} · ${values.length} intervals`));
}

async function twapChart(ctx: Ctx, amm: Address, pool: Pool, t0: TokenInfo, t1: TokenInfo): Promise<HTMLElement> {
  const box = h('div', {}, h('h3', {}, `TWAP ${t0.symbol} in ${t1.symbol}, last hour`));
  // Fewer points when the pool is younger than the window (observe reverts past its history).
  for (const window of [CHART_WINDOW, 600, 120, 24]) {
    const step = window / CHART_POINTS;
    const agos = Array.from({ length: CHART_POINTS + 1 }, (_, i) => Math.round(window - i * step));
    try {
      const [c0] = (await ctx.client.readContract({ address: amm, abi: abis.amm, functionName: 'observe', args: [pool.id, agos] })) as readonly [readonly bigint[], readonly bigint[]];
      const series = twapSeries(c0, agos, t0.decimals, t1.decimals);
      if (series.length) {
        box.firstChild!.textContent = `TWAP ${t0.symbol} in ${t1.symbol}, last ${window >= 3600 ? 'hour' : window >= 120 ? `${window / 60} min` : `${window} s`}`;
        box.append(chart(series));
        return box;
      }
    } catch {
      /* not enough history for this window: try a shorter one */
    }
  }
  box.append(h('p', { class: 'muted', 'data-testid': 'twap-empty' }, 'Not enough price history yet.'));
  return box;
}

export async function renderPools(ctx: Ctx, root: HTMLElement): Promise<void> {
  const amm = ammAddress(ctx);
  if (!amm) {
    root.append(section('Pools', h('p', { 'data-testid': 'no-amm' }, `The AMM is not deployed on ${ctx.net.chain.name} yet (no \`amm\` in deployments/${ctx.net.key}.json).`)));
    return;
  }
  const pools = await listPools(ctx, amm);
  if (!pools.length) root.append(section('Pools', h('p', { 'data-testid': 'no-pools' }, 'No pools yet.')));
  for (const pool of pools) root.append(await poolCard(ctx, amm, pool));
}

async function poolCard(ctx: Ctx, amm: Address, pool: Pool): Promise<HTMLElement> {
  const [t0, t1] = await Promise.all([tokenInfo(ctx, pool.token0), tokenInfo(ctx, pool.token1)]);
  const me = ctx.account;
  const progress = ctx.progress;
  const supply = (await ctx.client.readContract({ address: amm, abi: abis.amm, functionName: 'totalSupply', args: [pool.id] })) as bigint;
  const shares = me ? ((await ctx.client.readContract({ address: amm, abi: abis.amm, functionName: 'balanceOf', args: [me, pool.id] })) as bigint) : 0n;
  const price = pool.reserve0 > 0n ? Number(fmt((pool.reserve1 * 10n ** BigInt(t0.decimals) * 10n ** 12n) / pool.reserve0, t1.decimals + 12, 12).replace(/,/g, '')) : 0;

  const a0 = h('input', { 'data-testid': `add0-${pool.id}`, placeholder: t0.symbol, inputmode: 'decimal' });
  const a1 = h('input', { 'data-testid': `add1-${pool.id}`, placeholder: t1.symbol, inputmode: 'decimal' });
  // Keep the pool's ratio: typing one side fills the other.
  const fill = (src: HTMLInputElement, dst: HTMLInputElement, ds: number, dd: number, rs: bigint, rd: bigint) => {
    try {
      if (rs === 0n) return;
      const v = parseAmount(src.value, ds, 'amount');
      dst.value = fmt((v * rd) / rs, dd, dd).replace(/,/g, '');
    } catch {
      /* incomplete input */
    }
  };
  a0.addEventListener('input', () => fill(a0, a1, t0.decimals, t1.decimals, pool.reserve0, pool.reserve1));
  a1.addEventListener('input', () => fill(a1, a0, t1.decimals, t0.decimals, pool.reserve1, pool.reserve0));
  const slippage = h('input', { value: '1', size: 4, 'data-testid': `lp-slippage-${pool.id}` });
  const slippageBps = () => {
    const v = Number(slippage.value);
    if (!Number.isFinite(v) || v < 0 || v > 50) throw new Error('Slippage must be between 0 and 50 %.');
    return Math.round(v * 100);
  };
  const addBtn = h('button', { 'data-testid': `add-liquidity-${pool.id}`, disabled: !me }, 'Add liquidity');
  addBtn.addEventListener('click', async () => {
    try {
      const { account } = requireAccount(ctx);
      const v0 = parseAmount(a0.value, t0.decimals, `the ${t0.symbol} amount`);
      const v1 = parseAmount(a1.value, t1.decimals, `the ${t1.symbol} amount`);
      const bps = slippageBps();
      await ensureAllowance(ctx, progress, t0, amm, v0);
      await ensureAllowance(ctx, progress, t1, amm, v1);
      const deadline = (await chainNow(ctx)) + 1200n;
      await send(ctx, progress, 'Add liquidity', {
        address: amm,
        abi: abis.amm,
        functionName: 'addLiquidity',
        args: [pool.id, v0, v1, withSlippage(v0, bps, 'down'), withSlippage(v1, bps, 'down'), account, deadline],
      });
      ctx.refresh();
    } catch (e) {
      progress.fail(e);
    }
  });
  const removeShares = h('input', { 'data-testid': `remove-shares-${pool.id}`, placeholder: `shares (you have ${shares})` });
  const removeBtn = h('button', { class: 'secondary', 'data-testid': `remove-liquidity-${pool.id}`, disabled: !me || shares === 0n }, 'Remove liquidity');
  removeBtn.addEventListener('click', async () => {
    try {
      const { account } = requireAccount(ctx);
      const s = removeShares.value.trim() ? BigInt(removeShares.value.trim()) : shares;
      if (s <= 0n || s > shares) throw new Error(`Shares must be between 1 and ${shares}.`);
      const bps = slippageBps();
      const out0 = (pool.reserve0 * s) / supply;
      const out1 = (pool.reserve1 * s) / supply;
      const deadline = (await chainNow(ctx)) + 1200n;
      await send(ctx, progress, 'Remove liquidity', {
        address: amm,
        abi: abis.amm,
        functionName: 'removeLiquidity',
        args: [pool.id, s, withSlippage(out0, bps, 'down'), withSlippage(out1, bps, 'down'), account, deadline],
      });
      ctx.refresh();
    } catch (e) {
      progress.fail(e);
    }
  });

  let chartBox: HTMLElement;
  try {
    chartBox = await twapChart(ctx, amm, pool, t0, t1);
  } catch (e) {
    chartBox = h('p', { class: 'notice error' }, errorMessage(e));
  }
  const mine0 = supply > 0n ? (pool.reserve0 * shares) / supply : 0n;
  const mine1 = supply > 0n ? (pool.reserve1 * shares) / supply : 0n;
  return section(
    `${t0.symbol} / ${t1.symbol} · ${(pool.fee / 100).toFixed(2)} %`,
    h(
      'dl',
      { class: 'kv', 'data-testid': `pool-${pool.id}` },
      h('dt', {}, `reserve ${t0.symbol}`),
      h('dd', { 'data-testid': 'reserve0' }, fmt(pool.reserve0, t0.decimals, 8)),
      h('dt', {}, `reserve ${t1.symbol}`),
      h('dd', { 'data-testid': 'reserve1' }, fmt(pool.reserve1, t1.decimals, 8)),
      h('dt', {}, 'spot price'),
      h('dd', {}, `1 ${t0.symbol} = ${price.toPrecision(6)} ${t1.symbol}`),
      h('dt', {}, 'LP shares (total)'),
      h('dd', {}, supply.toString()),
      h('dt', {}, 'your position'),
      h('dd', { 'data-testid': 'lp-position' }, me ? `${shares} shares ≈ ${fmt(mine0, t0.decimals, 8)} ${t0.symbol} + ${fmt(mine1, t1.decimals, 8)} ${t1.symbol}` : '—'),
    ),
    chartBox,
    h('h3', {}, 'Add liquidity'),
    h('div', { class: 'row' }, field(t0.symbol, a0), field(t1.symbol, a1), field('Slippage %', slippage)),
    addBtn,
    h('h3', {}, 'Remove liquidity'),
    h('div', { class: 'row' }, removeShares, removeBtn),
  );
}
