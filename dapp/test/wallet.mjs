// An injected EIP-1193 wallet for the browser tests: the page gets a provider announced
// through EIP-6963; every request crosses to Node (exposeFunction), where a viem local
// account signs with a dev key and everything else is forwarded to the devnet.
import { createWalletClient, defineChain, http, numberToHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

const PAGE_SCRIPT = `(() => {
  const listeners = {};
  const provider = {
    isTestWallet: true,
    async request({ method, params }) {
      const r = await window.__walletRequest(method, params ?? []);
      if (r.error) throw Object.assign(new Error(r.error.message), { code: r.error.code, data: r.error.data });
      return r.result;
    },
    on(ev, f) { (listeners[ev] ??= []).push(f); return provider; },
    removeListener(ev, f) { listeners[ev] = (listeners[ev] ?? []).filter((g) => g !== f); return provider; },
  };
  window.__testWallet = { emit(ev, data) { for (const f of listeners[ev] ?? []) f(data); } };
  const info = { uuid: '6f1c2a8e-0000-4000-8000-00000000d1a9', name: 'Test Wallet', icon: '', rdns: 'dev.gpu-amm.test-wallet' };
  const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({ info, provider }) }));
  window.addEventListener('eip6963:requestProvider', announce);
  announce();
})();`;

export class TestWallet {
  /** @param {{ key: `0x${string}`, rpcUrl: string, chainId: number, startChainId?: number }} o */
  constructor({ key, rpcUrl, chainId, startChainId }) {
    this.account = privateKeyToAccount(key);
    this.address = this.account.address;
    this.rpcUrl = rpcUrl;
    this.devnetId = chainId;
    this.chainId = startChainId ?? chainId;
    // Chains the wallet knows; the devnet only once it was added, unless we start on it.
    this.known = new Set([1, this.chainId]);
    this.connected = false;
    /** Methods whose next request is rejected by the "user" (code 4001). */
    this.rejectNext = new Set();
    /** Every request the page made, for assertions. */
    this.requests = [];
    const chain = defineChain({ id: chainId, name: 'devnet', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [rpcUrl] } } });
    this.client = createWalletClient({ account: this.account, chain, transport: http(rpcUrl) });
    this.page = undefined;
  }

  async attach(page) {
    this.page = page;
    await page.exposeFunction('__walletRequest', async (method, params) => {
      this.requests.push({ method, params });
      try {
        return { result: await this.handle(method, params) };
      } catch (e) {
        return { error: { code: e.code ?? -32603, message: e.message ?? String(e), data: e.data } };
      }
    });
    await page.addInitScript(PAGE_SCRIPT);
  }

  emit(event, data) {
    return this.page.evaluate(([ev, d]) => window.__testWallet.emit(ev, d), [event, data]);
  }

  reject(method) {
    if (this.rejectNext.delete(method)) throw Object.assign(new Error('User rejected the request.'), { code: 4001 });
  }

  async handle(method, params) {
    switch (method) {
      case 'eth_requestAccounts':
        this.reject(method);
        this.connected = true;
        return [this.address];
      case 'eth_accounts':
        return this.connected ? [this.address] : [];
      case 'eth_chainId':
        return numberToHex(this.chainId);
      case 'wallet_switchEthereumChain': {
        this.reject(method);
        const id = Number(params[0].chainId);
        if (!this.known.has(id)) throw Object.assign(new Error(`Unrecognized chain ID ${params[0].chainId}.`), { code: 4902 });
        await this.setChain(id);
        return null;
      }
      case 'wallet_addEthereumChain': {
        this.reject(method);
        const id = Number(params[0].chainId);
        this.known.add(id);
        await this.setChain(id);
        return null;
      }
      case 'eth_sendTransaction': {
        this.reject(method);
        if (this.chainId !== this.devnetId) throw Object.assign(new Error('the test wallet sends only on the devnet'), { code: 4901 });
        const tx = params[0];
        const big = (v) => (v === undefined || v === null ? undefined : BigInt(v));
        return await this.client.sendTransaction({ to: tx.to, data: tx.data, value: big(tx.value), gas: big(tx.gas) });
      }
      case 'eth_signTypedData_v4': {
        this.reject(method);
        const typed = typeof params[1] === 'string' ? JSON.parse(params[1]) : params[1];
        const { EIP712Domain: _, ...types } = typed.types;
        return await this.account.signTypedData({ domain: typed.domain, types, primaryType: typed.primaryType, message: typed.message });
      }
      case 'personal_sign':
        this.reject(method);
        return await this.account.signMessage({ message: { raw: params[0] } });
      default:
        return await this.forward(method, params);
    }
  }

  async setChain(id) {
    if (id === this.chainId) return;
    this.chainId = id;
    await this.emit('chainChanged', numberToHex(id));
  }

  async forward(method, params) {
    const res = await fetch(this.rpcUrl, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
    const body = await res.json();
    if (body.error) throw Object.assign(new Error(body.error.message), { code: body.error.code, data: body.error.data });
    return body.result;
  }
}
