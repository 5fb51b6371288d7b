// Jobs: open a job (its spec stored in the relayer's spec store, its hash on chain), follow
// its state, and read its settlement reports with the evidence digest as provenance.
import { getAddress, keccak256, parseAbiItem, toBytes, toHex, zeroAddress, type Address, type Hex } from 'viem';
import { balanceOf, ensureAllowance, Progress, send, tokenInfo, walletHint, type Ctx } from '../app';
import { RELAYER_URL } from '../config';
import { abis, JOB_STATUS, SKIP_REASON } from '../contracts';
import { requireAddress } from '../deployment';
import { dateOf, field, fmt, h, isAddressLike, parseAmount, section, short, table } from '../ui';

const jobOpened = parseAbiItem(
  'event JobOpened(uint256 indexed jobId, address indexed buyer, address indexed provider, bytes32 classId, uint256 gpuSeconds, bytes32 specHash, uint64 acceptDeadline)',
);
const reportSettled = parseAbiItem(
  'event ReportSettled(uint256 indexed jobId, address indexed provider, uint256 indexed nonce, uint64 gpuSecondsBurned, uint64 secondsRefunded, bytes32 evidenceDigest)',
);
const reportSkipped = parseAbiItem('event ReportSkipped(uint256 indexed jobId, address indexed provider, uint256 indexed nonce, uint8 reason)');

/** The provider node's job spec format (provider-node/README.md, "Job spec format"). */
const EXAMPLE_SPEC = JSON.stringify({ version: 1, command: 'python3', args: ['train.py'], env: { EPOCHS: '3' }, gpus: 1, time_limit_s: 600 }, null, 2);
const SPEC_KEYS = new Set(['version', 'command', 'args', 'env', 'gpus', 'time_limit_s']);

/** Checks a spec the way provider nodes parse it, so a job they would refuse is never
 * opened (its escrow would sit until the accept window passes). */
export function checkSpec(text: string): void {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`The spec is not JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('The spec must be a JSON object.');
  const o = v as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !SPEC_KEYS.has(k));
  if (unknown.length) throw new Error(`The spec has unknown fields (${unknown.join(', ')}); allowed: ${[...SPEC_KEYS].join(', ')}.`);
  if (o.version !== 1) throw new Error('The spec needs "version": 1.');
  if (typeof o.command !== 'string' || !o.command) throw new Error('The spec needs a "command" string.');
  if (o.args !== undefined && !(Array.isArray(o.args) && o.args.every((a) => typeof a === 'string'))) throw new Error('"args" must be a list of strings.');
  if (o.env !== undefined && (typeof o.env !== 'object' || o.env === null || Array.isArray(o.env) || !Object.values(o.env).every((x) => typeof x === 'string'))) {
    throw new Error('"env" must be an object of strings.');
  }
  for (const k of ['gpus', 'time_limit_s']) {
    if (o[k] !== undefined && !(Number.isInteger(o[k]) && (o[k] as number) > 0)) throw new Error(`"${k}" must be a positive integer.`);
  }
}

export class RelayerError extends Error {}

/** Stores the spec in the relayer's spec store; returns its hash, checked to be keccak256
 * of the bytes we sent (so the hash on chain commits to exactly this spec). */
export async function storeSpec(spec: string): Promise<Hex> {
  const body = toBytes(spec); // UTF-8, exactly what fetch sends for the string
  let res: Response;
  try {
    res = await fetch(`${RELAYER_URL}/v1/specs`, { method: 'POST', body: spec, headers: { 'Content-Type': 'application/octet-stream' } });
  } catch (e) {
    throw new RelayerError(`the relayer is not reachable (${(e as Error).message})`);
  }
  const text = await res.text();
  let json: { hash?: string; code?: string; message?: string } = {};
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON: reported below */
  }
  if (res.status !== 200 && res.status !== 201) {
    throw new RelayerError(`the relayer refused the spec: ${json.code ?? res.status} ${json.message ?? text.slice(0, 200)}`);
  }
  const expected = keccak256(body);
  if (json.hash?.toLowerCase() !== expected) throw new RelayerError(`the relayer returned hash ${json.hash}, expected ${expected}`);
  return expected;
}

export async function renderJobs(ctx: Ctx, root: HTMLElement): Promise<void> {
  const d = ctx.deployment;
  const market = requireAddress(d, 'market');
  const me = ctx.account;
  const progress = ctx.progress;
  let list: HTMLElement | undefined;

  const classSelect = h('select', { 'data-testid': 'job-class' }, ...d.classes.map((c) => h('option', { value: c.classId }, `${c.symbol} (${c.name})`)));
  const seconds = h('input', { 'data-testid': 'job-seconds', placeholder: 'GPU-seconds to escrow', inputmode: 'numeric' });
  const provider = h('input', { 'data-testid': 'job-provider', placeholder: 'any provider' });
  const spec = h('textarea', { 'data-testid': 'job-spec', rows: 6 }, EXAMPLE_SPEC);
  const balanceLine = h('p', { class: 'muted', 'data-testid': 'job-balance' });
  const showBalance = async () => {
    const cls = d.classes.find((c) => c.classId === classSelect.value);
    if (!me || !cls) return;
    const t = await tokenInfo(ctx, cls.token);
    balanceLine.textContent = `You hold ${fmt(await balanceOf(ctx, cls.token, me), t.decimals)} ${t.symbol}${d.pools.length ? '' : ' (buy them on the Swap page once the AMM is deployed)'}.`;
  };
  classSelect.addEventListener('change', () => void showBalance());
  const openBtn = h('button', { 'data-testid': 'open-job', disabled: !me }, 'Open job');
  openBtn.addEventListener('click', async () => {
    openBtn.disabled = true;
    try {
      const cls = d.classes.find((c) => c.classId === classSelect.value)!;
      const n = parseAmount(seconds.value, 0, 'The GPU-seconds');
      const p = provider.value.trim();
      if (p && !isAddressLike(p)) throw new Error(`The provider "${p}" is not an address.`);
      checkSpec(spec.value);
      progress.set('signing', 'Storing the spec with the relayer…');
      const specHash = await storeSpec(spec.value);
      const token = await tokenInfo(ctx, cls.token);
      await ensureAllowance(ctx, progress, token, market, n);
      await send(ctx, progress, `Open a ${n} ${cls.symbol} job`, {
        address: market,
        abi: abis.market,
        functionName: 'openJob',
        args: [cls.classId, n, p ? getAddress(p) : zeroAddress, specHash],
      });
      await showBalance();
      if (me && list) await renderJobList(ctx, list, me, progress);
    } catch (e) {
      progress.fail(e);
    } finally {
      openBtn.disabled = !me;
    }
  });
  root.append(
    section(
      'Open a job',
      me ? balanceLine : h('p', {}, walletHint(ctx, 'open a job')),
      field('Hardware class', classSelect),
      field('GPU-seconds', seconds, 'escrowed from your class tokens; unused seconds are refunded'),
      field('Provider', provider, 'optional: leave empty for any provider with free obligations'),
      field('Spec (stored by the relayer; its keccak256 goes on chain)', spec),
      openBtn,
    ),
  );
  await showBalance();
  if (!me) return;

  list = h('div', { 'data-testid': 'jobs-list' });
  root.append(section('Your jobs', list));
  await renderJobList(ctx, list, me, progress);
  // Follow the jobs' states: re-read the list (not the form) every few seconds while shown.
  const follow = async () => {
    if (!root.isConnected) return;
    try {
      await renderJobList(ctx, list, me, progress);
      await showBalance(); // refunds arrive with settlement
    } catch {
      /* a failed poll keeps the last list; the next one retries */
    }
    window.setTimeout(follow, 4000);
  };
  window.setTimeout(follow, 4000);
}

async function renderJobList(ctx: Ctx, list: HTMLElement, me: Address, progress: Progress): Promise<void> {
  const d = ctx.deployment;
  const market = requireAddress(d, 'market');
  const settlement = d.contracts.settlement?.address;
  const fromBlock = BigInt(d.contracts.market?.block ?? 0);
  const opened = await ctx.client.getLogs({ address: market, event: jobOpened, args: { buyer: me }, fromBlock });
  const rows = [];
  const details: HTMLElement[] = [];
  for (const l of opened.slice().reverse()) {
    const id = l.args.jobId!;
    const j = (await ctx.client.readContract({ address: market, abi: abis.market, functionName: 'job', args: [id] })) as readonly [Address, Address, Hex, bigint, Hex, bigint, bigint, bigint, number];
    const [, prov, classId, escrow, specHash, openedAt, acceptDeadline, , status] = j;
    const cls = d.classes.find((c) => c.classId === classId);
    const statusName = JOB_STATUS[status] ?? `status ${status}`;
    const cancel =
      statusName === 'open'
        ? h(
            'button',
            {
              class: 'secondary',
              'data-testid': `cancel-${id}`,
              onclick: async () => {
                try {
                  await send(ctx, progress, `Cancel job #${id}`, { address: market, abi: abis.market, functionName: 'cancelJob', args: [id] });
                  await renderJobList(ctx, list, me, progress);
                } catch {
                  /* reported by send */
                }
              },
            },
            'Cancel',
          )
        : null;
    rows.push([
      `#${id}`,
      cls?.symbol ?? short(classId),
      h('code', { title: prov }, short(prov)),
      escrow.toString(),
      h('span', { 'data-testid': `job-status-${id}`, class: `status ${statusName}` }, statusName),
      h('span', { title: `accept by ${dateOf(acceptDeadline)}` }, dateOf(openedAt)),
      h('a', { href: `${RELAYER_URL}/v1/specs/${specHash}`, target: '_blank', title: specHash, 'data-testid': `job-spec-${id}` }, short(specHash)),
      cancel,
    ]);
    if (settlement) details.push(await reportsOf(ctx, settlement, id));
  }
  list.replaceChildren(
    rows.length ? table(['job', 'class', 'provider', 'escrow (s)', 'state', 'opened', 'spec', ''], rows as never, 'jobs-table') : h('p', { 'data-testid': 'no-jobs' }, 'No jobs yet.'),
    ...details,
  );
}

/** A job's settlement reports (burned, refunded, evidence digest) and skips. */
async function reportsOf(ctx: Ctx, settlement: Address, jobId: bigint): Promise<HTMLElement> {
  const fromBlock = BigInt(ctx.deployment.contracts.settlement?.block ?? 0);
  const [settled, skipped, record] = await Promise.all([
    ctx.client.getLogs({ address: settlement, event: reportSettled, args: { jobId }, fromBlock }),
    ctx.client.getLogs({ address: settlement, event: reportSkipped, args: { jobId }, fromBlock }),
    ctx.client.readContract({ address: settlement, abi: abis.settlement, functionName: 'jobRecord', args: [jobId] }) as Promise<readonly [Hex, bigint, bigint]>,
  ]);
  const box = h('div', { class: 'reports', 'data-testid': `reports-${jobId}` });
  if (!settled.length && !skipped.length) return box;
  box.append(h('h3', {}, `Job #${jobId}: settlement reports`));
  const rows = [
    ...settled.map((l) => [
      h('span', { title: `nonce ${l.args.nonce}` }, short(toHex(l.args.nonce!))),
      'settled',
      `${l.args.gpuSecondsBurned} s burned, ${l.args.secondsRefunded} s refunded`,
      h('code', { title: 'evidence digest' }, l.args.evidenceDigest!),
      `block ${l.blockNumber}`,
    ]),
    ...skipped.map((l) => [h('span', { title: `nonce ${l.args.nonce}` }, short(toHex(l.args.nonce!))), 'skipped', SKIP_REASON[Number(l.args.reason)] ?? `reason ${l.args.reason}`, '', `block ${l.blockNumber}`]),
  ];
  box.append(table(['report', 'outcome', 'usage', 'evidence digest', 'where'], rows as never));
  const [digest, settledAt, burned] = record;
  if (settledAt > 0n) {
    box.append(h('p', { class: 'muted' }, `Provenance: evidence digest `, h('code', {}, digest), ` (last settled ${dateOf(settledAt)}, ${burned} GPU-seconds burned in total).`));
  }
  return box;
}
