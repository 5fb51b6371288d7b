// Small DOM and formatting helpers (no framework: the pages are plain functions).
import { formatUnits, parseUnits, type Address } from 'viem';

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

/** `h('button', { onclick: f, 'data-testid': 'x' }, 'text')`. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) (el as HTMLInputElement).value = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export function short(a: string): string {
  return a.length > 12 ? `${a.slice(0, 6)}…${a.slice(-4)}` : a;
}

/** Human amount: full precision up to `maxFrac` fraction digits, no trailing zeros. */
export function fmt(v: bigint, decimals: number, maxFrac = 6): string {
  const s = formatUnits(v, decimals);
  const [i, f = ''] = s.split('.');
  const frac = f.slice(0, maxFrac).replace(/0+$/, '');
  const int = i.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac ? `${int}.${frac}` : int;
}

export class InputError extends Error {}

/** Parses a positive decimal amount typed by the user; throws a clear InputError. */
export function parseAmount(text: string, decimals: number, what: string): bigint {
  const t = text.trim().replace(/,/g, '');
  if (!t) throw new InputError(`Enter ${what}.`);
  if (!/^\d*\.?\d*$/.test(t) || t === '.') throw new InputError(`${what}: "${text}" is not a number.`);
  const frac = t.split('.')[1] ?? '';
  if (frac.length > decimals) throw new InputError(`${what}: at most ${decimals} decimals.`);
  const v = parseUnits(t, decimals);
  if (v <= 0n) throw new InputError(`${what} must be more than zero.`);
  return v;
}

export function isAddressLike(s: string): s is Address {
  return /^0x[0-9a-fA-F]{40}$/.test(s.trim());
}

/** "6d 23h" / "15m 3s" until `unlock` (unix seconds) from `now`. */
export function duration(seconds: bigint): string {
  let s = Number(seconds);
  if (s <= 0) return 'now';
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hr = Math.floor(s / 3600);
  s -= hr * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  return m ? `${m}m ${s}s` : `${s}s`;
}

export function dateOf(unix: bigint): string {
  return new Date(Number(unix) * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

export function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

export function field(label: string, input: HTMLElement, hint?: string): HTMLElement {
  return h('label', { class: 'field' }, h('span', {}, label), input, hint ? h('small', {}, hint) : null);
}

export function table(head: string[], rows: Child[][], testid?: string): HTMLElement {
  return h(
    'table',
    { 'data-testid': testid },
    h('thead', {}, h('tr', {}, ...head.map((c) => h('th', {}, c)))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))),
  );
}
