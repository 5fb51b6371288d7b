// Swap: a class token against the stablecoin, exact in or exact out. Quotes come from the
// AMM itself (getAmountsOut/In by eth_call), so they match execution to the wei.
import { parseSignature, type Abi, type Address } from 'viem';
import { balanceOf, chainNow, ensureAllowance, markReported, requireAccount, send, tokenInfo, walletHint, type Ctx, type TokenInfo } from '../app';
import { ammAddress, bestPool, encodePath, listPools, priceImpactBps, withSlippage, type Pool } from '../amm';
import { abis, supportsPermit } from '../contracts';
import { addressOf } from '../deployment';
import { errorMessage } from '../errors';
import { field, fmt, h, parseAmount, section } from '../ui';

interface Quote {
  pool: Pool;
  path: `0x${string}`;
  amountIn: bigint;
  amountOut: bigint;
  /** amountOutMin (exact in) or amountInMax (exact out). */
  limit: bigint;
  impactBps: number;
}

export async function renderSwap(ctx: Ctx, root: HTMLElement): Promise<void> {
  const amm = ammAddress(ctx);
  if (!amm) {
    root.append(
      section(
        'Swap',
        h('p', { 'data-testid': 'no-amm' }, `The AMM is not deployed on ${ctx.net.chain.name} yet (no \`amm\` in deployments/${ctx.net.key}.json), so there is nothing to swap.`),
      ),
    );
    return;
  }
  const stable = addressOf(ctx.deployment, 'stablecoin');
  const tokens: { info: TokenInfo; abi: Abi }[] = [];
  if (stable) tokens.push({ info: await tokenInfo(ctx, stable), abi: abis.mockErc20 });
  for (const c of ctx.deployment.classes) tokens.push({ info: await tokenInfo(ctx, c.token), abi: abis.computeToken });
  const pools = await listPools(ctx, amm);
  const progress = ctx.progress;
  const me = ctx.account;

  const option = (t: TokenInfo, selected: boolean) => h('option', { value: t.address, selected }, t.symbol);
  const fromSel = h('select', { 'data-testid': 'swap-from' }, ...tokens.map((t, i) => option(t.info, i === 0)));
  const toSel = h('select', { 'data-testid': 'swap-to' }, ...tokens.map((t, i) => option(t.info, i === 1)));
  const modeSel = h('select', { 'data-testid': 'swap-mode' }, h('option', { value: 'in' }, 'exact input'), h('option', { value: 'out' }, 'exact output'));
  const amount = h('input', { 'data-testid': 'swap-amount', placeholder: 'amount', inputmode: 'decimal' });
  const slippage = h('input', { 'data-testid': 'swap-slippage', value: '0.5', size: 5 });
  const deadline = h('input', { 'data-testid': 'swap-deadline', value: '20', size: 5 });
  const quoteBox = h('div', { class: 'kv', 'data-testid': 'quote' });
  const balancesBox = h('dl', { class: 'kv', 'data-testid': 'swap-balances' });
  const resultBox = h('div', { 'data-testid': 'swap-result' });
  const swapBtn = h('button', { 'data-testid': 'swap', disabled: !me }, 'Swap');

  const tokenOf = (a: string) => tokens.find((t) => t.info.address === a)!;
  const slippageBps = (): number => {
    const v = Number(slippage.value);
    if (!Number.isFinite(v) || v < 0 || v > 50) throw new Error('Slippage must be between 0 and 50 %.');
    return Math.round(v * 100);
  };
  const deadlineSecs = (): bigint => {
    const v = Number(deadline.value);
    if (!Number.isInteger(v) || v < 1 || v > 24 * 60) throw new Error('The deadline must be 1 to 1440 minutes.');
    return BigInt(v * 60);
  };

  async function quote(): Promise<Quote> {
    const from = tokenOf(fromSel.value).info;
    const to = tokenOf(toSel.value).info;
    if (from.address === to.address) throw new Error('Pick two different tokens.');
    const pool = bestPool(pools, from.address, to.address);
    if (!pool) throw new Error(`No ${from.symbol}/${to.symbol} pool.`);
    const path = encodePath([from.address, to.address], [pool.fee]);
    const bps = slippageBps();
    if (modeSel.value === 'in') {
      const amountIn = parseAmount(amount.value, from.decimals, `the ${from.symbol} to sell`);
      const amounts = (await ctx.client.readContract({ address: amm!, abi: abis.amm, functionName: 'getAmountsOut', args: [path, amountIn] })) as readonly bigint[];
      const amountOut = amounts[amounts.length - 1];
      return { pool, path, amountIn, amountOut, limit: withSlippage(amountOut, bps, 'down'), impactBps: priceImpactBps(pool, from.address, amountIn, amountOut) };
    }
    const amountOut = parseAmount(amount.value, to.decimals, `the ${to.symbol} to buy`);
    const amounts = (await ctx.client.readContract({ address: amm!, abi: abis.amm, functionName: 'getAmountsIn', args: [path, amountOut] })) as readonly bigint[];
    const amountIn = amounts[0];
    return { pool, path, amountIn, amountOut, limit: withSlippage(amountIn, bps, 'up'), impactBps: priceImpactBps(pool, from.address, amountIn, amountOut) };
  }

  async function showQuote() {
    const from = tokenOf(fromSel.value).info;
    const to = tokenOf(toSel.value).info;
    quoteBox.dataset.state = 'loading';
    try {
      if (!amount.value.trim()) {
        quoteBox.replaceChildren();
        quoteBox.dataset.state = 'empty';
        return;
      }
      const q = await quote();
      const exactIn = modeSel.value === 'in';
      quoteBox.replaceChildren(
        h('dt', {}, 'you pay'),
        h('dd', { 'data-testid': 'quote-in', 'data-raw': q.amountIn.toString() }, `${fmt(q.amountIn, from.decimals, 8)} ${from.symbol}`),
        h('dt', {}, 'you receive'),
        h('dd', { 'data-testid': 'quote-out', 'data-raw': q.amountOut.toString() }, `${fmt(q.amountOut, to.decimals, 8)} ${to.symbol}`),
        h('dt', {}, exactIn ? 'minimum received' : 'maximum paid'),
        h('dd', {}, exactIn ? `${fmt(q.limit, to.decimals, 8)} ${to.symbol}` : `${fmt(q.limit, from.decimals, 8)} ${from.symbol}`),
        h('dt', {}, 'price impact'),
        h('dd', { 'data-testid': 'quote-impact' }, `${(q.impactBps / 100).toFixed(2)} %`),
        h('dt', {}, 'pool fee'),
        h('dd', {}, `${(q.pool.fee / 100).toFixed(2)} %`),
      );
      quoteBox.dataset.state = 'ok';
    } catch (e) {
      quoteBox.replaceChildren(h('span', { class: 'muted', 'data-testid': 'quote-error' }, errorMessage(e)));
      quoteBox.dataset.state = 'error';
    }
  }

  async function readBalances(): Promise<Map<Address, bigint>> {
    const m = new Map<Address, bigint>();
    if (!me) return m;
    for (const t of tokens) m.set(t.info.address, await balanceOf(ctx, t.info.address, me));
    return m;
  }
  async function showBalances() {
    const b = await readBalances();
    balancesBox.replaceChildren(...tokens.flatMap((t) => [h('dt', {}, t.info.symbol), h('dd', { 'data-testid': `balance-${t.info.symbol}` }, fmt(b.get(t.info.address) ?? 0n, t.info.decimals, 8))]));
  }

  /** EIP-2612: sign a permit for exactly `value` and submit it, instead of an approval. */
  async function permit(token: TokenInfo, value: bigint, deadlineTs: bigint) {
    const { account, walletClient } = requireAccount(ctx);
    const domain = (await ctx.client.readContract({ address: token.address, abi: abis.computeToken, functionName: 'eip712Domain' })) as readonly [string, string, string, bigint, Address, string, readonly bigint[]];
    const nonce = (await ctx.client.readContract({ address: token.address, abi: abis.computeToken, functionName: 'nonces', args: [account] })) as bigint;
    progress.set('signing', `Sign the ${token.symbol} permit in your wallet…`);
    let signature: `0x${string}`;
    try {
      signature = await walletClient.signTypedData({
        account,
        domain: { name: domain[1], version: domain[2], chainId: domain[3], verifyingContract: domain[4] },
        types: {
          Permit: [
            { name: 'owner', type: 'address' },
            { name: 'spender', type: 'address' },
            { name: 'value', type: 'uint256' },
            { name: 'nonce', type: 'uint256' },
            { name: 'deadline', type: 'uint256' },
          ],
        },
        primaryType: 'Permit',
        message: { owner: account, spender: amm!, value, nonce, deadline: deadlineTs },
      });
    } catch (e) {
      progress.set('error', `Permit failed. ${errorMessage(e)}`);
      markReported(e);
      throw e;
    }
    const { r, s, v, yParity } = parseSignature(signature);
    await send(ctx, progress, `Permit ${token.symbol}`, {
      address: token.address,
      abi: abis.computeToken,
      functionName: 'permit',
      args: [account, amm, value, deadlineTs, Number(v ?? BigInt(yParity + 27)), r, s],
    });
  }

  swapBtn.addEventListener('click', async () => {
    swapBtn.disabled = true;
    resultBox.replaceChildren();
    try {
      const { account } = requireAccount(ctx);
      const q = await quote();
      const from = tokenOf(fromSel.value);
      const to = tokenOf(toSel.value).info;
      const deadlineTs = (await chainNow(ctx)) + deadlineSecs();
      const needed = modeSel.value === 'in' ? q.amountIn : q.limit;
      const before = await readBalances();
      const allowance = (await ctx.client.readContract({ address: from.info.address, abi: abis.mockErc20, functionName: 'allowance', args: [account, amm] })) as bigint;
      if (allowance < needed) {
        if (supportsPermit(from.abi)) await permit(from.info, needed, deadlineTs);
        else await ensureAllowance(ctx, progress, from.info, amm!, needed);
      }
      const exactIn = modeSel.value === 'in';
      await send(ctx, progress, `Swap ${from.info.symbol} for ${to.symbol}`, {
        address: amm!,
        abi: abis.amm,
        functionName: exactIn ? 'swapExactIn' : 'swapExactOut',
        args: exactIn ? [q.path, q.amountIn, q.limit, account, deadlineTs] : [q.path, q.amountOut, q.limit, account, deadlineTs],
      });
      const after = await readBalances();
      resultBox.replaceChildren(
        h('h3', {}, 'Result'),
        h(
          'dl',
          { class: 'kv' },
          ...tokens.flatMap((t) => {
            const delta = (after.get(t.info.address) ?? 0n) - (before.get(t.info.address) ?? 0n);
            if (delta === 0n) return [];
            const sign = delta > 0n ? '+' : '−';
            return [h('dt', {}, t.info.symbol), h('dd', { 'data-testid': `delta-${t.info.symbol}` }, `${sign}${fmt(delta < 0n ? -delta : delta, t.info.decimals, 8)}`)];
          }),
        ),
      );
      await showBalances();
      await showQuote();
    } catch (e) {
      progress.fail(e);
    } finally {
      swapBtn.disabled = !me;
    }
  });

  let timer = 0;
  const requote = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void showQuote(), 250);
  };
  for (const el of [fromSel, toSel, modeSel, amount, slippage]) el.addEventListener('input', requote);
  for (const el of [fromSel, toSel, modeSel]) el.addEventListener('change', requote);

  root.append(
    section(
      'Swap',
      h('div', { class: 'row' }, field('From', fromSel), field('To', toSel), field('Mode', modeSel)),
      field('Amount', amount, 'of the token you sell (exact input) or buy (exact output)'),
      h('div', { class: 'row' }, field('Slippage %', slippage), field('Deadline (min)', deadline)),
      quoteBox,
      h('div', { class: 'row' }, swapBtn),
      resultBox,
    ),
    section('Your balances', me ? balancesBox : h('p', {}, walletHint(ctx, 'see your balances'))),
  );
  await showBalances();
}
