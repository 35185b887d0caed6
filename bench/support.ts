// Helpers shared by the benches of issue 8 (hypercore, catch-up, memory): the native Ed25519
// verify rate that every figure is compared with, percentiles, the load average printed beside
// each figure (the machine is shared), and argument parsing. Benches print; they never assert.

import { loadavg } from 'node:os'
import { publicKeyOf, signRaw, verifyRaw } from '../src/identity/ed25519.ts'
import { sha256 } from '../src/ledger/hash.ts'

/** Native Ed25519 verifications per second on this machine now: one key, 64 messages, `n` checks
 * through verifyRaw (crypto.verify with a cached KeyObject), as bench/consensus.ts measures it. */
export function verifyRate(n = 4000): number {
  const seed = sha256(new Uint8Array([1]))
  const pub = publicKeyOf(seed)
  const msgs = Array.from({ length: 64 }, (_, i) => sha256(new Uint8Array([i])))
  const sigs = msgs.map((m) => signRaw(seed, m))
  const t0 = performance.now()
  for (let i = 0; i < n; i++) verifyRaw(pub, msgs[i % 64] as Uint8Array, sigs[i % 64] as Uint8Array)
  return Math.round(n / ((performance.now() - t0) / 1000))
}

/** The p-quantile of an ascending list (nearest rank below), NaN when empty. */
export function pct(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number)
}

/** The 1-minute load average, to print beside a figure measured on a shared machine. */
export function load(): string {
  return (loadavg()[0] as number).toFixed(2)
}

/** `--name value` from argv, or the fallback. */
export function arg(args: readonly string[], name: string, fallback: string): string {
  const at = args.indexOf(`--${name}`)
  return at >= 0 && at + 1 < args.length ? (args[at + 1] as string) : fallback
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Milliseconds with one decimal. */
export const ms1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : 'n/a')

/** Run `gc()` when node was started with --expose-gc (twice: weak maps are cleared in a second
 * pass), so that heap figures are live data, not garbage. */
export function collect(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) return false
  gc()
  gc()
  return true
}

export const MB = 1024 * 1024
