// Wallet discovery (EIP-6963, MetaMask preferred, `window.ethereum` as fallback), connection,
// chain switching and the provider's events.
import { getAddress, numberToHex, type Address, type EIP1193Provider } from 'viem';
import type { Network } from './config';

export interface WalletInfo {
  uuid: string;
  name: string;
  icon: string;
  rdns: string;
}

export interface WalletEntry {
  info: WalletInfo;
  provider: EIP1193Provider;
}

const METAMASK_RDNS = 'io.metamask';

/** Collects EIP-6963 announcements; `onChange` runs whenever a wallet appears. */
export function discoverWallets(onChange: (wallets: WalletEntry[]) => void): () => WalletEntry[] {
  const found = new Map<string, WalletEntry>();
  const listener = (event: Event) => {
    const detail = (event as CustomEvent).detail as WalletEntry | undefined;
    if (!detail?.info?.uuid || !detail.provider) return;
    found.set(detail.info.uuid, { info: detail.info, provider: detail.provider });
    onChange(list());
  };
  const list = (): WalletEntry[] => {
    const wallets = [...found.values()];
    // Fallback for wallets that do not announce themselves.
    const injected = (window as { ethereum?: EIP1193Provider & { isMetaMask?: boolean } }).ethereum;
    if (wallets.length === 0 && injected) {
      wallets.push({
        info: { uuid: 'window.ethereum', name: injected.isMetaMask ? 'MetaMask' : 'Browser wallet', icon: '', rdns: 'window.ethereum' },
        provider: injected,
      });
    }
    // MetaMask first.
    return wallets.sort((a, b) => Number(b.info.rdns === METAMASK_RDNS) - Number(a.info.rdns === METAMASK_RDNS));
  };
  window.addEventListener('eip6963:announceProvider', listener);
  window.dispatchEvent(new Event('eip6963:requestProvider'));
  return list;
}

export interface WalletEvents {
  accountsChanged(accounts: Address[]): void;
  chainChanged(chainId: number): void;
  disconnect(): void;
}

/** A connected wallet: its provider, account and chain, kept current by its events. */
export class Wallet {
  account: Address | undefined;
  chainId: number | undefined;
  private off: (() => void) | undefined;

  constructor(
    readonly entry: WalletEntry,
    private readonly events: WalletEvents,
  ) {}

  get provider(): EIP1193Provider {
    return this.entry.provider;
  }

  /** Asks for the accounts (the wallet's connect prompt) and subscribes to its events. */
  async connect(): Promise<void> {
    const accounts = (await this.provider.request({ method: 'eth_requestAccounts' })) as string[];
    if (!accounts.length) throw new Error('the wallet returned no account');
    this.account = getAddress(accounts[0]);
    this.chainId = Number(await this.provider.request({ method: 'eth_chainId' }));
    this.subscribe();
  }

  private subscribe() {
    const p = this.provider;
    const onAccounts = (accounts: string[]) => {
      this.account = accounts.length ? getAddress(accounts[0]) : undefined;
      if (this.account) this.events.accountsChanged(accounts.map((a) => getAddress(a)));
      else this.events.disconnect();
    };
    const onChain = (id: string) => {
      this.chainId = Number(id);
      this.events.chainChanged(this.chainId);
    };
    const onDisconnect = () => {
      this.account = undefined;
      this.events.disconnect();
    };
    p.on('accountsChanged', onAccounts);
    p.on('chainChanged', onChain);
    p.on('disconnect', onDisconnect);
    this.off = () => {
      p.removeListener('accountsChanged', onAccounts);
      p.removeListener('chainChanged', onChain);
      p.removeListener('disconnect', onDisconnect);
    };
  }

  /** Forgets the wallet (EIP-1193 has no standard "disconnect" request). */
  close() {
    this.off?.();
    this.off = undefined;
    this.account = undefined;
  }

  /** Switches the wallet to `net`'s chain, adding the chain first if the wallet does not
   * know it (error 4902, or -32603 wrapping it as some MetaMask versions do). */
  async switchTo(net: Network): Promise<void> {
    const chainId = numberToHex(net.chain.id);
    try {
      await this.provider.request({ method: 'wallet_switchEthereumChain', params: [{ chainId }] });
    } catch (e) {
      const code = (e as { code?: number }).code;
      const inner = (e as { data?: { originalError?: { code?: number } } }).data?.originalError?.code;
      if (code !== 4902 && inner !== 4902) throw e;
      await this.provider.request({
        method: 'wallet_addEthereumChain',
        params: [
          {
            chainId,
            chainName: net.chain.name,
            nativeCurrency: net.chain.nativeCurrency,
            rpcUrls: [net.walletRpcUrl],
            blockExplorerUrls: net.chain.blockExplorers ? [net.chain.blockExplorers.default.url] : undefined,
          },
        ],
      });
    }
    // Wallets that do not emit chainChanged still report the new chain here.
    this.chainId = Number(await this.provider.request({ method: 'eth_chainId' }));
  }
}
