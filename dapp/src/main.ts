// The app shell: network choice, wallet connection, the wrong-chain banner and the pages.
import './style.css';
import { createPublicClient, createWalletClient, custom, http, type PublicClient } from 'viem';
import { Progress, type Ctx } from './app';
import { NETWORKS, networkByChainId, type Network } from './config';
import { loadDeployment, type Deployment } from './deployment';
import { errorMessage } from './errors';
import { renderJobs } from './pages/jobs';
import { renderPools } from './pages/pools';
import { renderProvide } from './pages/provide';
import { renderSwap } from './pages/swap';
import { h, short } from './ui';
import { discoverWallets, Wallet, type WalletEntry } from './wallet';

const PAGES: Record<string, { title: string; render: (ctx: Ctx, root: HTMLElement) => Promise<void> }> = {
  swap: { title: 'Swap', render: renderSwap },
  pools: { title: 'Pools', render: renderPools },
  provide: { title: 'Provide', render: renderProvide },
  jobs: { title: 'Jobs', render: renderJobs },
};

const state = {
  net: NETWORKS.find((n) => n.key === localStorage.getItem('network')) ?? NETWORKS[0],
  deployment: undefined as Deployment | undefined,
  deploymentError: undefined as string | undefined,
  client: undefined as PublicClient | undefined,
  wallet: undefined as Wallet | undefined,
  notice: undefined as string | undefined,
  renderSeq: 0,
};

const header = document.getElementById('header')!;
const banner = document.getElementById('banner')!;
const nav = document.getElementById('nav')!;
const main = document.getElementById('main')!;
const progress = new Progress();
document.getElementById('status')!.append(progress.el);

// Announcements can arrive synchronously, while discoverWallets is still running.
let listWallets: () => WalletEntry[] = () => [];
listWallets = discoverWallets(() => renderHeader());

function page(): string {
  const p = location.hash.replace(/^#\/?/, '');
  return p in PAGES ? p : 'swap';
}

async function selectNetwork(net: Network) {
  state.net = net;
  localStorage.setItem('network', net.key);
  state.client = createPublicClient({ chain: net.chain, transport: http(net.readRpcUrl), pollingInterval: 1000 }) as PublicClient;
  state.deployment = undefined;
  state.deploymentError = undefined;
  try {
    state.deployment = await loadDeployment(net);
  } catch (e) {
    state.deploymentError = errorMessage(e);
  }
  renderAll();
}

async function connect(entry: WalletEntry) {
  state.wallet?.close();
  const wallet = new Wallet(entry, {
    accountsChanged: () => renderAll(),
    chainChanged: (id) => {
      // Follow the wallet to another network the dApp knows; otherwise keep asking to switch.
      const other = networkByChainId(id);
      if (other && other.key !== state.net.key) void selectNetwork(other);
      else renderAll();
    },
    disconnect: () => {
      state.wallet = undefined;
      state.notice = 'The wallet disconnected.';
      renderAll();
    },
  });
  state.notice = undefined;
  try {
    await wallet.connect();
    state.wallet = wallet;
  } catch (e) {
    state.notice = `Could not connect: ${errorMessage(e)}`;
  }
  renderAll();
}

function disconnect() {
  state.wallet?.close();
  state.wallet = undefined;
  renderAll();
}

function onRightChain(): boolean {
  return !!state.wallet?.account && state.wallet.chainId === state.net.chain.id;
}

function renderHeader() {
  const netSelect = h(
    'select',
    {
      'data-testid': 'network',
      onchange: (e: Event) => {
        const key = (e.target as HTMLSelectElement).value;
        const net = NETWORKS.find((n) => n.key === key);
        if (net) void selectNetwork(net);
      },
    },
    ...NETWORKS.map((n) => h('option', { value: n.key, selected: n.key === state.net.key }, n.chain.name)),
  );
  let walletBox: HTMLElement;
  if (state.wallet?.account) {
    walletBox = h(
      'div',
      { class: 'wallet' },
      h('span', { 'data-testid': 'account', title: state.wallet.account }, short(state.wallet.account)),
      h('small', {}, ` via ${state.wallet.entry.info.name}`),
      h('button', { class: 'secondary', onclick: disconnect, 'data-testid': 'disconnect' }, 'Disconnect'),
    );
  } else {
    const wallets = listWallets();
    walletBox = wallets.length
      ? h(
          'div',
          { class: 'wallet' },
          ...wallets.map((w, i) =>
            h(
              'button',
              { onclick: () => void connect(w), 'data-testid': i === 0 ? 'connect' : `connect-${i}` },
              w.info.icon ? h('img', { src: w.info.icon, alt: '', class: 'icon' }) : null,
              `Connect ${w.info.name}`,
            ),
          ),
        )
      : h('div', { class: 'wallet' }, h('span', { 'data-testid': 'no-wallet' }, 'No wallet found: install MetaMask.'));
  }
  header.replaceChildren(h('h1', {}, 'GPU Compute AMM'), netSelect, walletBox);
}

function renderBanner() {
  const parts: HTMLElement[] = [];
  if (state.notice) parts.push(h('div', { class: 'notice', 'data-testid': 'notice' }, state.notice));
  if (state.deploymentError) parts.push(h('div', { class: 'notice error', 'data-testid': 'deployment-error' }, state.deploymentError));
  const w = state.wallet;
  if (w?.account && w.chainId !== state.net.chain.id) {
    const known = networkByChainId(w.chainId);
    const status = h('span', { 'data-testid': 'switch-status' });
    parts.push(
      h(
        'div',
        { class: 'notice warn', 'data-testid': 'wrong-chain' },
        `Your wallet is on ${known ? known.chain.name : `chain ${w.chainId}`}; this page uses ${state.net.chain.name} (chain ${state.net.chain.id}). `,
        h(
          'button',
          {
            'data-testid': 'switch-network',
            onclick: async () => {
              status.textContent = ' Confirm in your wallet…';
              try {
                await w.switchTo(state.net);
                renderAll();
              } catch (e) {
                status.textContent = ` ${errorMessage(e)}`;
              }
            },
          },
          `Switch to ${state.net.chain.name}`,
        ),
        status,
      ),
    );
  }
  banner.replaceChildren(...parts);
}

function renderNav() {
  const current = page();
  nav.replaceChildren(
    ...Object.entries(PAGES).map(([k, p]) => h('a', { href: `#/${k}`, class: k === current ? 'active' : '', 'data-testid': `nav-${k}` }, p.title)),
  );
}

async function renderPage() {
  const seq = ++state.renderSeq;
  const p = PAGES[page()];
  const root = h('div', { class: 'page', 'data-testid': `page-${page()}`, 'data-ready': 'false' });
  main.replaceChildren(root);
  if (!state.deployment || !state.client) {
    root.append(h('p', {}, state.deploymentError ? 'No deployment to show.' : 'Loading the deployment…'));
    return;
  }
  const w = state.wallet;
  const ready = onRightChain();
  const ctx: Ctx = {
    net: state.net,
    deployment: state.deployment,
    client: state.client,
    wallet: w,
    account: ready ? w!.account : undefined,
    walletClient: ready ? createWalletClient({ account: w!.account!, chain: state.net.chain, transport: custom(w!.provider) }) : undefined,
    progress,
    refresh: () => {
      if (seq === state.renderSeq) void renderPage();
    },
  };
  try {
    await p.render(ctx, root);
  } catch (e) {
    root.append(h('div', { class: 'notice error', 'data-testid': 'page-error' }, errorMessage(e)));
  }
  // Tests and screenshots wait for this: the page has its chain data.
  if (seq === state.renderSeq) root.dataset.ready = 'true';
}

function renderAll() {
  renderHeader();
  renderBanner();
  renderNav();
  void renderPage();
}

window.addEventListener('hashchange', () => {
  renderNav();
  void renderPage();
});
void selectNetwork(state.net);
