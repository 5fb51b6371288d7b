// Provide: collateral in the restaking vault (deposit and delegate), queued withdrawals
// with their unlock time, and GPU-second obligations minted against free stake.
import { getAddress, parseAbiItem, type Address } from 'viem';
import { balanceOf, chainNow, ensureAllowance, send, tokenInfo, walletHint, type Ctx } from '../app';
import { abis } from '../contracts';
import { isMock, requireAddress } from '../deployment';
import { dateOf, duration, field, fmt, h, isAddressLike, parseAmount, section, short, table } from '../ui';

const depositedEvent = parseAbiItem('event Deposited(address indexed staker, address indexed operator, uint256 assets, uint256 shares)');
const queuedEvent = parseAbiItem(
  'event WithdrawalQueued(uint256 indexed withdrawalId, address indexed staker, address indexed operator, uint256 shares, uint256 assets, uint64 unlockTime)',
);

export async function renderProvide(ctx: Ctx, root: HTMLElement): Promise<void> {
  const d = ctx.deployment;
  const vault = requireAddress(d, 'vault');
  const market = requireAddress(d, 'market');
  const registry = requireAddress(d, 'registry');
  const config = (await ctx.client.readContract({ address: vault, abi: abis.vault, functionName: 'config' })) as readonly [Address, Address, Address, Address, bigint, boolean, bigint];
  const collateral = await tokenInfo(ctx, config[0]);
  const delay = config[4];
  const progress = ctx.progress;
  const me = ctx.account;
  const fromBlock = BigInt(d.contracts.vault?.block ?? 0);

  // --- deposit ---
  const amount = h('input', { 'data-testid': 'deposit-amount', placeholder: `amount of ${collateral.symbol}`, inputmode: 'decimal' });
  const operator = h('input', { 'data-testid': 'deposit-operator', placeholder: me ? `${me} (yourself)` : '0x… operator (default: yourself)' });
  const depositBtn = h('button', { 'data-testid': 'deposit', disabled: !me }, 'Deposit and delegate');
  depositBtn.addEventListener('click', async () => {
    try {
      const value = parseAmount(amount.value, collateral.decimals, 'The amount');
      const op = operator.value.trim() ? operator.value.trim() : me!;
      if (!isAddressLike(op)) throw new Error(`The operator "${op}" is not an address.`);
      depositBtn.disabled = true;
      await ensureAllowance(ctx, progress, collateral, vault, value);
      await send(ctx, progress, `Deposit ${fmt(value, collateral.decimals)} ${collateral.symbol}`, {
        address: vault,
        abi: abis.vault,
        functionName: 'deposit',
        args: [value, getAddress(op)],
      });
      ctx.refresh();
    } catch (e) {
      progress.fail(e);
    } finally {
      depositBtn.disabled = !me;
    }
  });

  const balances = h('dl', { class: 'kv', 'data-testid': 'balances' });
  if (me) {
    const [bal, eth] = await Promise.all([balanceOf(ctx, collateral.address, me), ctx.client.getBalance({ address: me })]);
    balances.append(
      h('dt', {}, `${collateral.symbol} in wallet`),
      h('dd', { 'data-testid': 'collateral-balance' }, fmt(bal, collateral.decimals)),
      h('dt', {}, 'ETH'),
      h('dd', {}, fmt(eth, 18)),
    );
  }
  const faucet =
    me && ctx.net.faucet && isMock(d, 'collateral')
      ? h(
          'button',
          {
            class: 'secondary',
            'data-testid': 'faucet-collateral',
            onclick: async () => {
              try {
                await send(ctx, progress, `Mint 1,000 test ${collateral.symbol}`, {
                  address: collateral.address,
                  abi: abis.mockErc20,
                  functionName: 'mint',
                  args: [me, 1000n * 10n ** BigInt(collateral.decimals)],
                });
                ctx.refresh();
              } catch {
                /* reported by send */
              }
            },
          },
          `Get 1,000 test ${collateral.symbol} (devnet faucet)`,
        )
      : null;

  root.append(
    section(
      'Deposit collateral',
      h('p', { class: 'muted' }, `Stake ${collateral.symbol} in the vault and delegate it to an operator (a GPU provider, or yourself). Withdrawals wait ${duration(delay)} and stay slashable until then.`),
      me ? balances : h('p', {}, walletHint(ctx, 'deposit')),
      field(`Amount (${collateral.symbol})`, amount),
      field('Operator', operator, 'leave empty to delegate to yourself'),
      h('div', { class: 'row' }, depositBtn, faucet),
    ),
  );
  if (!me) return;

  // --- stake per operator, and queueing withdrawals ---
  const deposits = await ctx.client.getLogs({ address: vault, event: depositedEvent, args: { staker: me }, fromBlock });
  const operators = [...new Set(deposits.map((l) => getAddress(l.args.operator!)))];
  // Operators whose stake was all queued are left out (their withdrawals are listed below).
  const stakeRows = await Promise.all(
    operators.map(async (op) => {
      const [shares, assets] = (await ctx.client.readContract({ address: vault, abi: abis.vault, functionName: 'stakeOf', args: [op, me] })) as readonly [bigint, bigint];
      const sharesIn = h('input', { placeholder: 'shares', 'data-testid': `queue-shares-${op}`, size: 14 });
      const btn = h('button', { class: 'secondary', 'data-testid': `queue-${op}`, disabled: shares === 0n }, 'Queue withdrawal');
      btn.addEventListener('click', async () => {
        try {
          const s = sharesIn.value.trim() ? BigInt(sharesIn.value.trim()) : shares;
          await send(ctx, progress, 'Queue withdrawal', { address: vault, abi: abis.vault, functionName: 'queueWithdrawal', args: [op, s] });
          ctx.refresh();
        } catch (e) {
          progress.fail(e);
        }
      });
      return shares === 0n ? null : [h('code', { title: op }, op === me ? `${short(op)} (you)` : short(op)), shares.toString(), fmt(assets, collateral.decimals), h('div', { class: 'row' }, sharesIn, btn)];
    }),
  ).then((rows) => rows.filter((r) => r !== null));
  root.append(
    section(
      'Your stake',
      stakeRows.length ? table(['operator', 'shares', collateral.symbol, ''], stakeRows, 'stake-table') : h('p', { 'data-testid': 'no-stake' }, 'No active stake.'),
      h('small', { class: 'muted' }, 'Leave the shares empty to queue all of them.'),
    ),
  );

  // --- queued withdrawals ---
  const now = await chainNow(ctx);
  const queued = await ctx.client.getLogs({ address: vault, event: queuedEvent, args: { staker: me }, fromBlock });
  const wRows = await Promise.all(
    queued.map(async (l) => {
      const id = l.args.withdrawalId!;
      const w = (await ctx.client.readContract({ address: vault, abi: abis.vault, functionName: 'withdrawal', args: [id] })) as readonly [Address, Address, bigint, bigint, bigint, boolean, boolean];
      const [, op, , assets, unlock, , claimed] = w;
      const ready = now >= unlock;
      const claim = h('button', { class: 'secondary', 'data-testid': `claim-${id}`, disabled: claimed || !ready }, claimed ? 'Claimed' : 'Claim');
      claim.addEventListener('click', async () => {
        try {
          await send(ctx, progress, `Claim withdrawal #${id}`, { address: vault, abi: abis.vault, functionName: 'claim', args: [id] });
          ctx.refresh();
        } catch {
          /* reported by send */
        }
      });
      return [`#${id}`, h('code', { title: op }, short(op)), fmt(assets, collateral.decimals), h('span', { title: `unix ${unlock}` }, dateOf(unlock)), claimed ? 'claimed' : ready ? 'ready' : `in ${duration(unlock - now)}`, claim];
    }),
  );
  root.append(
    section(
      'Queued withdrawals',
      wRows.length ? table(['id', 'operator', collateral.symbol, 'unlocks', 'status', ''], wRows, 'withdrawals-table') : h('p', {}, 'None queued.'),
    ),
  );

  // --- as an operator: free stake and obligations ---
  const [active, queuedAssets, locked] = (await ctx.client.readContract({ address: vault, abi: abis.vault, functionName: 'operatorStake', args: [me] })) as readonly [bigint, bigint, bigint];
  const free = (await ctx.client.readContract({ address: vault, abi: abis.vault, functionName: 'freeStake', args: [me] })) as bigint;
  const classRows: unknown[][] = [];
  const classSelect = h('select', { 'data-testid': 'mint-class' });
  for (const c of d.classes) {
    const info = (await ctx.client.readContract({ address: registry, abi: abis.registry, functionName: 'classInfo', args: [c.classId] })) as readonly [Address, bigint, bigint, bigint, number, bigint, boolean, bigint];
    const [registered] = (await ctx.client.readContract({ address: registry, abi: abis.registry, functionName: 'providerInfo', args: [c.classId, me] })) as readonly [boolean, Address, string, bigint];
    const [minted, committed] = (await ctx.client.readContract({ address: market, abi: abis.market, functionName: 'obligations', args: [c.classId, me] })) as readonly [bigint, bigint];
    const perSecond = info[1];
    const mintable = perSecond > 0n ? free / perSecond : 0n;
    classRows.push([c.symbol, registered ? 'yes' : 'no', `${fmt(perSecond, collateral.decimals, 6)} ${collateral.symbol}`, minted.toString(), committed.toString(), registered ? mintable.toString() : '—']);
    classSelect.append(h('option', { value: c.classId }, `${c.symbol} (${c.name})`));
  }
  const seconds = h('input', { 'data-testid': 'mint-seconds', placeholder: 'GPU-seconds', inputmode: 'numeric' });
  const mintBtn = h('button', { 'data-testid': 'mint' }, 'Mint obligations');
  mintBtn.addEventListener('click', async () => {
    try {
      const n = parseAmount(seconds.value, 0, 'The GPU-seconds');
      const cls = d.classes.find((c) => c.classId === classSelect.value)!;
      await send(ctx, progress, `Mint ${n} ${cls.symbol}`, { address: market, abi: abis.market, functionName: 'mint', args: [cls.classId, n] });
      ctx.refresh();
    } catch (e) {
      progress.fail(e);
    }
  });
  root.append(
    section(
      'As a GPU provider',
      h(
        'dl',
        { class: 'kv', 'data-testid': 'operator-stake' },
        h('dt', {}, 'active stake'),
        h('dd', { 'data-testid': 'operator-active' }, `${fmt(active, collateral.decimals)} ${collateral.symbol}`),
        h('dt', {}, 'queued (still slashable)'),
        h('dd', {}, `${fmt(queuedAssets, collateral.decimals)} ${collateral.symbol}`),
        h('dt', {}, 'locked behind obligations'),
        h('dd', {}, `${fmt(locked, collateral.decimals)} ${collateral.symbol}`),
        h('dt', {}, 'free stake'),
        h('dd', { 'data-testid': 'free-stake' }, `${fmt(free, collateral.decimals)} ${collateral.symbol}`),
      ),
      table(['class', 'registered', 'collateral / s', 'minted', 'committed', 'mintable now'], classRows as never, 'obligations-table'),
      h('p', { class: 'muted' }, 'Minting locks collateral per GPU-second from your free stake; register for the class first (provider node).'),
      field('Class', classSelect),
      field('GPU-seconds', seconds),
      mintBtn,
    ),
  );
}
