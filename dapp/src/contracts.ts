// ABIs from the repository's abi/ folder (generated from the contracts), plus the
// temporary AMM ABI. Every write and simulation uses `withAllErrors`, so a revert that
// bubbles up from another contract (a token inside the market, say) still decodes.
import type { Abi } from 'viem';
import computeToken from '../../abi/ComputeToken.json';
import market from '../../abi/Market.json';
import mockErc20 from '../../abi/MockErc20.json';
import registry from '../../abi/Registry.json';
import settlement from '../../abi/Settlement.json';
import vault from '../../abi/Vault.json';
import { ammAbi } from './abi/amm';

export const abis = {
  computeToken: computeToken as Abi,
  market: market as Abi,
  mockErc20: mockErc20 as Abi,
  registry: registry as Abi,
  settlement: settlement as Abi,
  vault: vault as Abi,
  amm: ammAbi as Abi,
};

export type AbiError = Extract<Abi[number], { type: 'error' }>;

const allErrors: AbiError[] = [];
{
  const seen = new Set<string>();
  for (const abi of Object.values(abis)) {
    for (const item of abi) {
      if (item.type !== 'error') continue;
      const sig = sigOf(item);
      if (seen.has(sig)) continue;
      seen.add(sig);
      allErrors.push(item);
    }
  }
}

/** `abi` plus every custom error any of the project's contracts can raise. */
export function withAllErrors(abi: Abi): Abi {
  const own = new Set(abi.filter((i): i is AbiError => i.type === 'error').map(sigOf));
  return [...abi, ...allErrors.filter((e) => !own.has(sigOf(e)))];
}

/** Errors are told apart by signature (what their selector is computed from). */
function sigOf(e: AbiError): string {
  return `${e.name}(${e.inputs.map((i) => i.type).join(',')})`;
}

/** Whether a token implements EIP-2612 (`permit`, `nonces`), judged from its ABI. */
export function supportsPermit(abi: Abi): boolean {
  const names = new Set(abi.filter((i) => i.type === 'function').map((i) => (i as { name: string }).name));
  return names.has('permit') && names.has('nonces');
}

/** Market job states (contracts/market `status`). */
export const JOB_STATUS = ['none', 'open', 'accepted', 'settled', 'cancelled', 'slashed'] as const;

/** Settlement skip reasons (contracts/settlement `rules::reason`). */
export const SKIP_REASON: Record<number, string> = {
  1: 'bad signature',
  2: 'nonce already used',
  3: 'job not settleable',
  4: 'wrong provider',
  5: 'outside the job window',
  6: 'report too late',
  7: 'impossible usage',
  8: 'conflicting report',
  9: 'unknown GPU',
};
