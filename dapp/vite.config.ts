// Vite config: serves the deployment records and proxies the devnet RPC and the relayer,
// so the dApp reads addresses only from deployments/<network>.json (never from its source).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Connect, Plugin } from 'vite';
import { defineConfig } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
/** Networks the dApp knows; their records live in deployments/<name>.json. */
const NETWORKS = ['devnet', 'arbitrum-sepolia'];

/** Where a network's record is read from. `DAPP_DEPLOYMENTS` overrides the devnet's (tests
 * and `run --out` write elsewhere); `DAPP_DEPLOYMENTS_DIR` moves the whole folder. */
function recordPath(network: string): string {
  if (network === 'devnet' && process.env.DAPP_DEPLOYMENTS) return resolve(process.env.DAPP_DEPLOYMENTS);
  const dir = process.env.DAPP_DEPLOYMENTS_DIR ? resolve(process.env.DAPP_DEPLOYMENTS_DIR) : resolve(repo, 'deployments');
  return resolve(dir, `${network}.json`);
}

/** `/deployments/<network>.json`, read from disk on every request: a redeployed devnet is
 * picked up by a page reload, without restarting Vite. */
const serveRecords: Connect.NextHandleFunction = (req, res, next) => {
  const m = /^\/deployments\/([a-z0-9-]+)\.json(\?.*)?$/.exec(req.url ?? '');
  if (!m || !NETWORKS.includes(m[1])) return next();
  const path = recordPath(m[1]);
  res.setHeader('Cache-Control', 'no-store');
  if (!existsSync(path)) {
    res.statusCode = 404;
    res.end(`no deployment record at ${path}`);
    return;
  }
  res.setHeader('Content-Type', 'application/json');
  res.end(readFileSync(path));
};

function deployments(): Plugin {
  return {
    name: 'deployments',
    configureServer(server) {
      server.middlewares.use(serveRecords);
    },
    configurePreviewServer(server) {
      server.middlewares.use(serveRecords);
    },
    // A static build carries the records that exist at build time.
    generateBundle() {
      for (const n of NETWORKS) {
        const path = recordPath(n);
        if (existsSync(path)) this.emitFile({ type: 'asset', fileName: `deployments/${n}.json`, source: readFileSync(path) });
      }
    },
  };
}

const rpc = process.env.VITE_RPC_URL ?? 'http://127.0.0.1:8547';
const relayer = process.env.VITE_RELAYER_URL ?? 'http://127.0.0.1:8080';
// The devnet and the relayer send no CORS headers: the page reaches them through these
// same-origin proxies (the wallet talks to the RPC URL directly).
const proxy = {
  '/rpc': { target: rpc, changeOrigin: true, rewrite: (p: string) => p.replace(/^\/rpc/, '') || '/' },
  '/relayer': { target: relayer, changeOrigin: true, rewrite: (p: string) => p.replace(/^\/relayer/, '') || '/' },
};

export default defineConfig({
  plugins: [deployments()],
  server: { host: '127.0.0.1', strictPort: true, proxy, fs: { allow: [repo] } },
  preview: { host: '127.0.0.1', strictPort: true, proxy },
  build: { target: 'es2022' },
});
