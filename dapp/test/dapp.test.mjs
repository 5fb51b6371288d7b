// Browser tests of the dApp against the real system on a devnet: Debian's Chromium driven
// by playwright-core, an injected wallet signing with a dev key, checks on chain after.
// Run: `npm test --prefix dapp` (prerequisites in dapp/README.md).
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { createPublicClient, createWalletClient, encodePacked, erc20Abi, getAddress, http, keccak256, parseAbi, parseUnits, toBytes } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { CHROMIUM, DAPP_DIR, KEYS, missingPrerequisites, startStack, TARGET } from './stack.mjs';
import { TestWallet } from './wallet.mjs';

const CHAIN_ID = 412346;
const SHOTS = join(DAPP_DIR, 'test-results');
const vaultAbi = parseAbi(['function stakeOf(address operator, address staker) view returns (uint256, uint256)', 'function withdrawal(uint256) view returns (address, address, uint256, uint256, uint64, bool, bool)']);
const marketAbi = parseAbi([
  'function job(uint256) view returns (address, address, bytes32, uint256, bytes32, uint64, uint64, uint64, uint8)',
  'function jobCount() view returns (uint256)',
  'function mint(bytes32 classId, uint256 gpuSeconds)',
  'function acceptJob(uint256 jobId)',
]);
const devnet = (url) => ({ id: CHAIN_ID, name: 'devnet', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [url] } } });
const settlementAbi = parseAbi(['function jobRecord(uint256) view returns (bytes32, uint64, uint256)']);
const ammAbi = parseAbi(['function balanceOf(address owner, uint256 id) view returns (uint256)']);

const missing = process.env.DAPP_TEST_DAPP_URL ? [] : missingPrerequisites();
let stack;
let browser;
let chain;
let record;

/** A fresh page with the test wallet injected; `startChainId` is where the wallet starts. */
async function openDapp(t, { startChainId = CHAIN_ID, hash = '#/swap' } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  t.after(() => context.close());
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  const wallet = new TestWallet({ key: KEYS.buyer, rpcUrl: stack.rpcUrl, chainId: CHAIN_ID, startChainId });
  await wallet.attach(page);
  await page.goto(`${stack.dappUrl}/${hash}`);
  return { page, wallet, errors };
}

async function connect(page, wallet) {
  await page.getByTestId('connect').click();
  await page.getByTestId('account').waitFor();
  assert.equal(await page.getByTestId('account').getAttribute('title'), wallet.address);
}

/** Waits until the current page has rendered its chain data. */
async function ready(page, name) {
  await page.locator(`[data-testid="page-${name}"][data-ready="true"]`).waitFor({ timeout: 30000 });
}

async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Waits for the transaction labelled `label` to confirm; fails on any error shown. */
async function txDone(page, label) {
  const status = page.getByTestId('tx-status');
  await page.waitForFunction(
    (l) => {
      const el = document.querySelector('[data-testid="tx-status"]');
      return el?.dataset.state === 'error' || (el?.dataset.state === 'success' && el.textContent.startsWith(l));
    },
    label,
    { timeout: 60000 },
  );
  const state = await status.getAttribute('data-state');
  assert.equal(state, 'success', `transaction failed: ${await status.innerText()}`);
}

describe('dApp in Chromium against the devnet', () => {
  before(async () => {
    // Missing pieces fail the suite (never a silent skip), naming what to build.
    if (missing.length) throw new Error(`missing prerequisites:\n  ${missing.join('\n  ')}`);
    stack = await startStack();
    record = JSON.parse(readFileSync(stack.record, 'utf8'));
    chain = createPublicClient({ transport: http(stack.rpcUrl) });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, { timeout: 300000 });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  test('connect shows the account, and every page renders', { timeout: 120000 }, async (t) => {
    const { page, wallet, errors } = await openDapp(t);
    await connect(page, wallet);
    assert.equal(await page.getByTestId('wrong-chain').count(), 0);
    for (const name of ['swap', 'pools', 'provide', 'jobs']) {
      await page.getByTestId(`nav-${name}`).click();
      await ready(page, name);
      assert.equal(await page.getByTestId('page-error').count(), 0, `page ${name}: ${await page.getByTestId('page-error').allInnerTexts()}`);
      await shot(page, name);
    }
    assert.deepEqual(errors, []);
  });

  test('a wrong chain asks to switch, and the switch adds the devnet to the wallet', { timeout: 60000 }, async (t) => {
    const { page, wallet } = await openDapp(t, { startChainId: 1 });
    await connect(page, wallet);
    const banner = page.getByTestId('wrong-chain');
    await banner.waitFor();
    assert.match(await banner.innerText(), /chain 1\b.*GPU AMM devnet \(chain 412346\)/s);
    // Nothing can be sent from the wrong chain.
    await page.getByTestId('nav-provide').click();
    await ready(page, 'provide');
    assert.equal(await page.getByTestId('deposit').isDisabled(), true);
    await shot(page, 'wrong-chain');
    await page.getByTestId('switch-network').click();
    await banner.waitFor({ state: 'detached' });
    assert.equal(wallet.chainId, CHAIN_ID);
    const add = wallet.requests.find((r) => r.method === 'wallet_addEthereumChain');
    assert.ok(add, 'the dApp added the chain after the wallet answered 4902');
    assert.equal(add.params[0].chainId, '0x64aba');
    assert.deepEqual(add.params[0].rpcUrls, [stack.rpcUrl]);
    await ready(page, 'provide');
    assert.equal(await page.getByTestId('deposit').isDisabled(), false);
  });

  test('the wallet\'s account, chain and disconnect events update the page', { timeout: 60000 }, async (t) => {
    const { page, wallet } = await openDapp(t, { hash: '#/provide' });
    await connect(page, wallet);
    await ready(page, 'provide');
    const other = privateKeyToAccount(KEYS.provider).address;
    await wallet.emit('accountsChanged', [other]);
    await page.locator(`[data-testid="account"][title="${other}"]`).waitFor();
    await wallet.emit('chainChanged', '0x1');
    await page.getByTestId('wrong-chain').waitFor();
    await wallet.emit('chainChanged', '0x64aba');
    await page.getByTestId('wrong-chain').waitFor({ state: 'detached' });
    await wallet.emit('disconnect', { code: 4900, message: 'disconnected' });
    await page.getByTestId('connect').waitFor();
    assert.equal(await page.getByTestId('notice').innerText(), 'The wallet disconnected.');
    assert.equal(await page.getByTestId('account').count(), 0);
  });

  test('a rejected signature shows the error and sends nothing', { timeout: 60000 }, async (t) => {
    const { page, wallet } = await openDapp(t, { hash: '#/provide' });
    await connect(page, wallet);
    await ready(page, 'provide');
    const nonce = await chain.getTransactionCount({ address: wallet.address });
    wallet.rejectNext.add('eth_sendTransaction');
    await page.getByTestId('faucet-collateral').click();
    const error = page.getByTestId('error');
    await error.waitFor();
    assert.match(await error.innerText(), /Rejected in the wallet/);
    assert.equal(await chain.getTransactionCount({ address: wallet.address }), nonce);
    await shot(page, 'rejected');
  });

  test('a revert shows the decoded custom error', { timeout: 60000 }, async (t) => {
    const { page, wallet } = await openDapp(t, { hash: '#/provide' });
    await connect(page, wallet);
    await ready(page, 'provide');
    // The buyer is not a registered provider: the market refuses to mint.
    await page.getByTestId('mint-seconds').fill('10');
    await page.getByTestId('mint').click();
    const error = page.getByTestId('error');
    await error.waitFor();
    const text = await error.innerText();
    const h100 = record.classes.find((c) => c.symbol === 'H100s');
    assert.match(text, new RegExp(`NotRegistered\\(provider=${wallet.address}, classId=${h100.classId}\\)`, 'i'));
  });

  test('Provide: deposit into the vault, then queue a withdrawal with its unlock time', { timeout: 120000 }, async (t) => {
    const { page, wallet } = await openDapp(t, { hash: '#/provide' });
    await connect(page, wallet);
    await ready(page, 'provide');
    const vault = record.contracts.vault.address;
    const collateral = record.contracts.collateral.address;
    const e18 = 10n ** 18n;
    const stake0 = (await chain.readContract({ address: vault, abi: vaultAbi, functionName: 'stakeOf', args: [wallet.address, wallet.address] }))[1];

    await page.getByTestId('faucet-collateral').click();
    await txDone(page, 'Mint 1,000 test');
    await ready(page, 'provide');
    const bal0 = await chain.readContract({ address: collateral, abi: erc20Abi, functionName: 'balanceOf', args: [wallet.address] });
    assert.ok(bal0 >= 1000n * e18);

    await page.getByTestId('deposit-amount').fill('250.5');
    await page.getByTestId('deposit').click();
    await txDone(page, 'Deposit 250.5');
    await ready(page, 'provide');
    const bal1 = await chain.readContract({ address: collateral, abi: erc20Abi, functionName: 'balanceOf', args: [wallet.address] });
    const [shares, assets] = await chain.readContract({ address: vault, abi: vaultAbi, functionName: 'stakeOf', args: [wallet.address, wallet.address] });
    assert.equal(bal0 - bal1, 2505n * e18 / 10n);
    assert.equal(assets - stake0, 2505n * e18 / 10n);
    assert.equal(await page.getByTestId('collateral-balance').innerText(), Number(bal1 / e18).toLocaleString('en-US') + (bal1 % e18 ? `.${(bal1 % e18).toString().padStart(18, '0').slice(0, 6).replace(/0+$/, '')}` : ''));
    assert.match(await page.getByTestId('stake-table').innerText(), new RegExp(`${shares}`));

    // Queue all shares: the withdrawal appears with the vault's unlock time.
    await page.getByTestId(`queue-${wallet.address}`).click();
    await txDone(page, 'Queue withdrawal');
    await ready(page, 'provide');
    const rowText = await page.getByTestId('withdrawals-table').innerText();
    const id = BigInt(/#(\d+)/.exec(rowText)[1]);
    const w = await chain.readContract({ address: vault, abi: vaultAbi, functionName: 'withdrawal', args: [id] });
    assert.equal(w[0], wallet.address);
    assert.equal(w[2], shares);
    const unlock = new Date(Number(w[4]) * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
    assert.ok(rowText.includes(unlock), `${rowText} should show ${unlock}`);
    assert.match(rowText, /in 6d 23h|in 7d 0h/);
    await shot(page, 'provide-after-deposit');
  });

  test('Jobs: open a job with its spec in the relayer, follow it to settlement and its evidence digest', { timeout: 180000 }, async (t) => {
    const market = record.contracts.market.address;
    const provider = createWalletClient({ account: privateKeyToAccount(KEYS.provider), transport: http(stack.rpcUrl), chain: devnet(stack.rpcUrl) });
    const send = async (call) => assert.equal((await chain.waitForTransactionReceipt({ hash: await provider.writeContract(call) })).status, 'success');
    // Fixture, as the provider: hand the buyer 100 of the H100-seconds it minted (the run
    // command's seed registered it for H100 with its node's simulated GPU).
    const h100 = record.classes.find((c) => c.symbol === 'H100s');
    const digest = keccak256(keccak256(encodePacked(['uint8', 'address'], [8, provider.account.address])));
    const buyer = privateKeyToAccount(KEYS.buyer).address;
    await send({ address: h100.token, abi: erc20Abi, functionName: 'transfer', args: [buyer, 100n] });

    const { page, wallet } = await openDapp(t, { hash: '#/jobs' });
    await connect(page, wallet);
    await ready(page, 'jobs');
    // The provider node's spec format (provider-node/README.md); env makes the bytes new.
    const spec = JSON.stringify({ version: 1, command: 'sleep', args: ['2'], env: { RUN: String(Date.now()) }, gpus: 1, time_limit_s: 30 });
    await page.getByTestId('job-class').selectOption(h100.classId);
    await page.getByTestId('job-seconds').fill('60');
    await page.getByTestId('job-spec').fill(spec);
    const tokens0 = await chain.readContract({ address: h100.token, abi: erc20Abi, functionName: 'balanceOf', args: [wallet.address] });
    await page.getByTestId('open-job').click();
    await txDone(page, 'Open a 60 H100s job');
    await page.getByTestId('jobs-table').waitFor();
    const id = await chain.readContract({ address: market, abi: marketAbi, functionName: 'jobCount' });
    const status = page.getByTestId(`job-status-${id}`);
    assert.equal(await status.innerText(), 'open');
    const job = await chain.readContract({ address: market, abi: marketAbi, functionName: 'job', args: [id] });
    assert.equal(job[0], wallet.address);
    assert.equal(job[1], provider.account.address);
    assert.equal(job[2], h100.classId);
    assert.equal(job[3], 60n);
    assert.equal(job[4], keccak256(toBytes(spec)));
    assert.equal(tokens0 - (await chain.readContract({ address: h100.token, abi: erc20Abi, functionName: 'balanceOf', args: [wallet.address] })), 60n);
    // The spec behind the hash is in the relayer's store, byte for byte.
    const stored = await fetch(`${stack.relayerUrl}/v1/specs/${job[4]}`);
    assert.equal(stored.status, 200);
    assert.equal(await stored.text(), spec);
    await shot(page, 'jobs-after-open');

    // The provider node started by the run command sees the job on chain, fetches the spec
    // from the relayer by its hash, accepts, runs it on the simulated meter and sends the
    // signed report to the relayer, which settles it in the settlement contract. The page
    // follows the state on its own (no reload) and shows the report with its evidence digest.
    await page.locator(`[data-testid="job-status-${id}"]`, { hasText: /accepted|settled/ }).waitFor({ timeout: 60000 });
    await page.locator(`[data-testid="job-status-${id}"]`, { hasText: 'settled' }).waitFor({ timeout: 120000 });
    const [onChainDigest, settledAt, burned] = await chain.readContract({ address: record.contracts.settlement.address, abi: settlementAbi, functionName: 'jobRecord', args: [id] });
    assert.equal(onChainDigest, digest);
    assert.ok(settledAt > 0n && burned > 0n && burned <= 60n);
    const reports = page.getByTestId(`reports-${id}`);
    await reports.locator('table').waitFor();
    const text = await reports.innerText();
    assert.ok(text.includes(digest), `${text} should show ${digest}`);
    assert.match(text, new RegExp(`settled\\s+${burned} s burned, ${60n - burned} s refunded`));
    await shot(page, 'jobs-settled');
  });

  // The shipped config deploys the AMM; a record without it (`amm = false`) skips these.
  const noAmm = () => (record && !record.contracts.amm ? 'no `amm` in the deployment record (amm = false)' : false);

  test('Swap: stablecoin for H100-seconds, quote = execution, balances on chain', { timeout: 120000 }, async (t) => {
    if (noAmm()) return t.skip(noAmm());
    const { page, wallet } = await openDapp(t, { hash: '#/swap' });
    await connect(page, wallet);
    await ready(page, 'swap');
    const stable = record.contracts.stablecoin.address;
    const h100 = record.classes.find((c) => c.symbol === 'H100s');
    await page.getByTestId('swap-from').selectOption(getAddress(stable));
    await page.getByTestId('swap-to').selectOption(getAddress(h100.token));
    await page.getByTestId('swap-amount').fill('1');
    await page.locator('[data-testid="quote"][data-state="ok"]').waitFor();
    // The exact base units behind the displayed (rounded) quote.
    const quotedOut = BigInt(await page.getByTestId('quote-out').getAttribute('data-raw'));
    const [u0, s0] = await Promise.all([stable, h100.token].map((a) => chain.readContract({ address: a, abi: erc20Abi, functionName: 'balanceOf', args: [wallet.address] })));
    await shot(page, 'swap-quote');
    await page.getByTestId('swap').click();
    await txDone(page, 'Swap');
    await page.getByTestId('swap-result').locator('dl').waitFor();
    await page.locator('[data-testid="swap"]:not([disabled])').waitFor();
    const [u1, s1] = await Promise.all([stable, h100.token].map((a) => chain.readContract({ address: a, abi: erc20Abi, functionName: 'balanceOf', args: [wallet.address] })));
    assert.equal(u0 - u1, parseUnits('1', 6));
    assert.equal(s1 - s0, quotedOut);
    await shot(page, 'swap-done');
  });

  test('Swap: exact output, selling H100-seconds through an EIP-2612 permit', { timeout: 120000 }, async (t) => {
    if (noAmm()) return t.skip(noAmm());
    const { page, wallet } = await openDapp(t, { hash: '#/swap' });
    await connect(page, wallet);
    await ready(page, 'swap');
    const stable = record.contracts.stablecoin.address;
    const h100 = record.classes.find((c) => c.symbol === 'H100s');
    await page.getByTestId('swap-from').selectOption(getAddress(h100.token));
    await page.getByTestId('swap-to').selectOption(getAddress(stable));
    await page.getByTestId('swap-mode').selectOption('out');
    await page.getByTestId('swap-amount').fill('0.1');
    await page.locator('[data-testid="quote"][data-state="ok"]').waitFor();
    const quotedIn = BigInt(await page.getByTestId('quote-in').getAttribute('data-raw'));
    const [u0, s0] = await Promise.all([stable, h100.token].map((a) => chain.readContract({ address: a, abi: erc20Abi, functionName: 'balanceOf', args: [wallet.address] })));
    await page.getByTestId('swap').click();
    await txDone(page, 'Swap');
    const [u1, s1] = await Promise.all([stable, h100.token].map((a) => chain.readContract({ address: a, abi: erc20Abi, functionName: 'balanceOf', args: [wallet.address] })));
    assert.equal(u1 - u0, parseUnits('0.1', 6));
    assert.equal(s0 - s1, quotedIn);
    // The compute-second token was authorised by a signed permit, not an approve transaction.
    assert.ok(wallet.requests.some((r) => r.method === 'eth_signTypedData_v4'));
    const approveSelector = '0x095ea7b3';
    assert.ok(!wallet.requests.some((r) => r.method === 'eth_sendTransaction' && r.params[0].data?.startsWith(approveSelector)));
  });

  test('Pools: add and remove liquidity, LP shares on chain', { timeout: 120000 }, async (t) => {
    if (noAmm()) return t.skip(noAmm());
    const { page, wallet } = await openDapp(t, { hash: '#/pools' });
    await connect(page, wallet);
    await ready(page, 'pools');
    const pool = record.pools[0];
    const id = BigInt(pool.poolId);
    const shares0 = await chain.readContract({ address: record.contracts.amm.address, abi: ammAbi, functionName: 'balanceOf', args: [wallet.address, id] });
    // Enter the stablecoin side; the page fills the class-token side at the pool's ratio.
    const stableIs0 = BigInt(record.contracts.stablecoin.address) < BigInt(pool.token);
    await page.getByTestId(`add${stableIs0 ? 0 : 1}-${id}`).fill('0.5');
    await page.getByTestId(`add-liquidity-${id}`).click();
    await txDone(page, 'Add liquidity');
    const shares1 = await chain.readContract({ address: record.contracts.amm.address, abi: ammAbi, functionName: 'balanceOf', args: [wallet.address, id] });
    assert.ok(shares1 > shares0);
    await ready(page, 'pools');
    assert.match(await page.getByTestId('lp-position').first().innerText(), new RegExp(`^${shares1} shares`));
    await shot(page, 'pools-after-add');

    // Remove half of them: shares burned on chain, both tokens paid back.
    const half = shares1 / 2n;
    const [b0, b1] = await Promise.all([pool.token, record.contracts.stablecoin.address].map((a) => chain.readContract({ address: a, abi: erc20Abi, functionName: 'balanceOf', args: [wallet.address] })));
    await page.getByTestId(`remove-shares-${id}`).fill(String(half));
    await page.getByTestId(`remove-liquidity-${id}`).click();
    await txDone(page, 'Remove liquidity');
    const shares2 = await chain.readContract({ address: record.contracts.amm.address, abi: ammAbi, functionName: 'balanceOf', args: [wallet.address, id] });
    assert.equal(shares2, shares1 - half);
    const [c0, c1] = await Promise.all([pool.token, record.contracts.stablecoin.address].map((a) => chain.readContract({ address: a, abi: erc20Abi, functionName: 'balanceOf', args: [wallet.address] })));
    assert.ok(c0 > b0 && c1 > b1);
  });
});
