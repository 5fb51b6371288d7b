// Turns wallet and contract failures into one clear sentence for the user.
import { BaseError, ContractFunctionRevertedError, UserRejectedRequestError } from 'viem';
import type { AbiError } from './contracts';

/** EIP-1193 "user rejected the request". */
export const USER_REJECTED = 4001;

function hasCode(e: unknown, code: number): boolean {
  let cur: any = e;
  for (let i = 0; cur && i < 10; i++, cur = cur.cause) if (cur.code === code) return true;
  return false;
}

function show(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  return String(v);
}

/** `Name(arg=value, ...)` with the parameter names from the ABI. */
export function describeRevert(err: ContractFunctionRevertedError): string {
  const data = err.data;
  if (data?.errorName) {
    const item = data.abiItem as AbiError | undefined;
    const args = (data.args ?? []).map((a, i) => {
      const name = item?.inputs?.[i]?.name;
      return name ? `${name}=${show(a)}` : show(a);
    });
    return `${data.errorName}(${args.join(', ')})`;
  }
  if (err.reason) return err.reason;
  if (err.signature) return `unknown custom error ${err.signature} (not in the dApp's ABIs)`;
  return 'reverted without a reason';
}

/** The message shown for any failed request. */
export function errorMessage(e: unknown): string {
  if (e instanceof BaseError) {
    if (e.walk((x) => x instanceof UserRejectedRequestError) || hasCode(e, USER_REJECTED)) {
      return 'Rejected in the wallet: nothing was signed or sent.';
    }
    const revert = e.walk((x) => x instanceof ContractFunctionRevertedError);
    if (revert instanceof ContractFunctionRevertedError) {
      return `The contract reverted: ${describeRevert(revert)}`;
    }
    return e.shortMessage || e.message;
  }
  if (hasCode(e, USER_REJECTED)) return 'Rejected in the wallet: nothing was signed or sent.';
  if (e instanceof Error) return e.message;
  return String(e);
}
