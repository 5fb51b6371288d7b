// Starts the whole system for the browser tests with the project's own run command
// (`run --no-build`: devnet, deploy, demo seed, relayer, provider node and this dApp's Vite
// dev server), on free ports and with the deployment record in a temporary folder.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DAPP_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = resolve(DAPP_DIR, '..');
export const TARGET = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(REPO, 'target');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
/** The run command (`cargo build -p deployer`). It finds the workspace through the path it
 * was compiled at, so a binary built in another checkout needs DAPP_RUN_BIN pointing at one
 * built from this one. */
export const RUN_BIN = process.env.DAPP_RUN_BIN ? resolve(process.env.DAPP_RUN_BIN) : join(TARGET, 'debug', 'run');

/** Dev keys the run command gives roles (anvil's mnemonic; see scripts/deploy). */
export const KEYS = {
  provider: '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d', // anvil 1
  buyer: '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a', // anvil 2
};

/** What must exist before `npm test`: a clear list instead of a timeout. */
export function missingPrerequisites() {
  const missing = [];
  if (!existsSync(CHROMIUM)) missing.push(`${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)`);
  if (!existsSync(RUN_BIN)) missing.push(`${RUN_BIN} (cargo build -p deployer)`);
  for (const b of ['devnet', 'relayer', 'provider-node']) {
    if (!existsSync(join(TARGET, 'debug', b))) missing.push(`${join(TARGET, 'debug', b)} (cargo build -p ${b})`);
  }
  for (const w of ['vault', 'market', 'registry', 'settlement', 'compute_token', 'mock_erc20', 'slash_court']) {
    const f = join(TARGET, 'wasm32-unknown-unknown', 'release', `${w}.wasm`);
    if (!existsSync(f)) missing.push(`${f} (cargo build --release --target wasm32-unknown-unknown -p ${w.replace(/_/g, '-')})`);
  }
  return missing;
}

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function waitHttp(url, ms, alive) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    alive();
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer within ${ms / 1000} s`);
}

/** Starts the stack; resolves when the dApp answers. `stop()` ends it (SIGTERM, which the
 * run command forwards to every service in order). */
export async function startStack() {
  // Against a system that is already running (e.g. `scripts/run.sh` and its dApp):
  // DAPP_TEST_DAPP_URL, DAPP_TEST_RPC_URL, DAPP_TEST_RELAYER_URL, DAPP_TEST_RECORD.
  if (process.env.DAPP_TEST_DAPP_URL) {
    const e = process.env;
    return {
      rpcUrl: e.DAPP_TEST_RPC_URL ?? 'http://127.0.0.1:8547',
      relayerUrl: e.DAPP_TEST_RELAYER_URL ?? 'http://127.0.0.1:8080',
      dappUrl: e.DAPP_TEST_DAPP_URL.replace(/\/$/, ''),
      record: e.DAPP_TEST_RECORD ?? join(REPO, 'deployments', 'devnet.json'),
      log: () => '',
      stop: async () => {},
    };
  }
  const [rpcPort, relayerPort, dappPort] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'dapp-test-'));
  const record = join(dir, 'devnet.json');
  const rpcUrl = `http://127.0.0.1:${rpcPort}`;
  const relayerUrl = `http://127.0.0.1:${relayerPort}`;
  const args = ['--no-build', '--port', String(rpcPort), '--relayer-port', String(relayerPort), '--dapp-port', String(dappPort), '--out', record];
  const child = spawn(RUN_BIN, args, {
    cwd: REPO,
    // The run command passes VITE_RPC_URL / VITE_CHAIN_ID to the dApp; the rest is inherited.
    env: { ...process.env, CARGO_TARGET_DIR: TARGET, DAPP_DEPLOYMENTS: record, VITE_RELAYER_URL: relayerUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  let exited = null;
  child.on('exit', (code, sig) => (exited = code ?? sig));
  const alive = () => {
    if (exited !== null) throw new Error(`the run command exited (${exited}):\n${log.slice(-4000)}`);
  };
  const stop = async () => {
    if (exited !== null) return;
    const done = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, 20000);
    await done;
    clearTimeout(timer);
  };
  try {
    const end = Date.now() + 240000;
    while (!log.includes('Running. Press Ctrl-C')) {
      alive();
      if (Date.now() > end) throw new Error(`the stack did not come up within 240 s:\n${log.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await waitHttp(`http://127.0.0.1:${dappPort}/`, 60000, alive);
  } catch (e) {
    await stop();
    throw e;
  }
  return { rpcUrl, relayerUrl, dappUrl: `http://127.0.0.1:${dappPort}`, record, log: () => log, stop };
}
