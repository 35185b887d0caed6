// The fuzz harness (docs/fuzzing.md): one fast-check property per decoder or protocol handler, a
// run count from FUZZ_RUNS (CI default: a few hundred), a seed from FUZZ_SEED to replay a failure,
// a per-input time limit that turns a hang into a failing (and shrunk) input, and the one
// acceptance rule every target shares: return a value or throw a TrothError with a message.
// Anything else (TypeError, RangeError, a stack overflow, an AssertionError) is a bug.

import { appendFileSync } from 'node:fs'
import fc from 'fast-check'
import { test } from 'vitest'
import { TrothError, type ErrorCode } from '../../src/errors.ts'

/** Inputs per target. CI runs the default; FUZZ_RUNS=100000 is the long form. */
export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? '100')
/** Replays the seed a failure printed (with FUZZ_PATH, the path it printed, to skip to the input). */
export const FUZZ_SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
const FUZZ_PATH = process.env.FUZZ_PATH
/** One input taking longer than this is a hang. Generous: long runs are niced on a shared box. */
export const HANG_MS = Number(process.env.FUZZ_HANG_MS ?? '5000')
/** FUZZ_REPORT=file appends one JSON line per target: inputs run and wall time. */
const REPORT = process.env.FUZZ_REPORT

if (!Number.isSafeInteger(FUZZ_RUNS) || FUZZ_RUNS < 1) throw new Error(`FUZZ_RUNS must be a positive integer, got ${process.env.FUZZ_RUNS}`)

export interface FuzzOptions {
  /** Per-input hang limit, if this target needs another. */
  readonly hangMs?: number
  /** Run once before the first input and after the last (set-up and clean-up of scratch files). */
  readonly before?: () => Promise<void> | void
  readonly after?: () => Promise<void> | void
}

/** Time allowed for a whole target: generous per input, so only a real hang trips vitest. */
function timeoutFor(runs: number, hangMs: number): number {
  return 60_000 + runs * 50 + hangMs
}

function params(runs: number): fc.Parameters<unknown> {
  return { numRuns: runs, ...(FUZZ_SEED === undefined ? {} : { seed: FUZZ_SEED }), ...(FUZZ_PATH === undefined ? {} : { path: FUZZ_PATH }) }
}

function report(target: string, inputs: number, ms: number): void {
  if (REPORT === undefined) return
  appendFileSync(REPORT, `${JSON.stringify({ target, inputs, seconds: Math.round(ms / 100) / 10 })}\n`)
}

function tooSlow(ms: number, hangMs: number): Error {
  return new Error(`one input took ${Math.round(ms)} ms, over the ${hangMs} ms hang limit`)
}

/** A synchronous target: `check` runs once per generated input and throws on a bug. */
export function fuzz<T>(target: string, arb: fc.Arbitrary<T>, check: (input: T) => void, o: FuzzOptions = {}): void {
  const runs = FUZZ_RUNS
  const hangMs = o.hangMs ?? HANG_MS
  test(
    target,
    async () => {
      await o.before?.()
      let inputs = 0
      const t0 = performance.now()
      try {
        fc.assert(
          fc.property(arb, (input) => {
            inputs++
            const start = performance.now()
            check(input)
            const ms = performance.now() - start
            if (ms > hangMs) throw tooSlow(ms, hangMs)
          }),
          params(runs),
        )
      } finally {
        await o.after?.()
      }
      report(target, inputs, performance.now() - t0)
    },
    timeoutFor(runs, hangMs),
  )
}

/** An asynchronous target (handlers, files, streams): each input must settle within the hang limit. */
export function fuzzAsync<T>(
  target: string,
  arb: fc.Arbitrary<T>,
  check: (input: T) => Promise<void>,
  o: FuzzOptions = {},
): void {
  const runs = FUZZ_RUNS
  const hangMs = o.hangMs ?? HANG_MS
  test(
    target,
    async () => {
      await o.before?.()
      let inputs = 0
      const t0 = performance.now()
      try {
        await fc.assert(
          fc.asyncProperty(arb, async (input) => {
            inputs++
            const start = performance.now()
            let timer: NodeJS.Timeout | undefined
            const hang = new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(tooSlow(performance.now() - start, hangMs)), hangMs)
            })
            try {
              await Promise.race([check(input), hang])
            } finally {
              clearTimeout(timer)
            }
          }),
          params(runs),
        )
      } finally {
        await o.after?.()
      }
      report(target, inputs, performance.now() - t0)
    },
    timeoutFor(runs, hangMs),
  )
}

/** The rejection every decoder may make: a TrothError with a code (optionally from `codes`) and a
 * message. Anything else is rethrown as the bug it is. */
export function expectTyped(err: unknown, codes?: readonly ErrorCode[]): TrothError {
  if (!(err instanceof TrothError)) {
    const what = err instanceof Error ? `${err.name}: ${err.message}` : `a thrown ${typeof err}: ${String(err)}`
    throw new Error(`untyped failure (${what})`, { cause: err })
  }
  if (codes !== undefined && !codes.includes(err.code)) throw new Error(`TrothError ${err.code} is not one of ${codes.join(', ')}: ${err.message}`, { cause: err })
  if (err.message.trim() === '') throw new Error(`TrothError ${err.code} without a message`, { cause: err })
  return err
}

/** What a strict CBOR decode and the schema checks after it may throw. */
export const DECODE_CODES = [
  'cbor.too-large', 'cbor.truncated', 'cbor.trailing-bytes', 'cbor.non-canonical-int', 'cbor.indefinite-length', 'cbor.float', 'cbor.map-key-order', 'cbor.duplicate-key',
  'cbor.map-key-type', 'cbor.unsupported-type', 'cbor.int-range', 'cbor.too-deep', 'cbor.too-many-items', 'cbor.invalid-utf8', 'cbor.malformed', 'schema.invalid',
] as const satisfies readonly ErrorCode[]

export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: TrothError }

/** Run a decoder: its value, or its typed rejection. Any other throw fails the input. */
export function attempt<T>(fn: () => T, codes?: readonly ErrorCode[]): Outcome<T> {
  try {
    return { ok: true, value: fn() }
  } catch (err) {
    return { ok: false, error: expectTyped(err, codes) }
  }
}

export async function attemptAsync<T>(fn: () => Promise<T>, codes?: readonly ErrorCode[]): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await fn() }
  } catch (err) {
    return { ok: false, error: expectTyped(err, codes) }
  }
}

export function bytesEq(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}

export function hexOf(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

/** Accepted input must re-encode to the very same bytes (the format is canonical). */
export function expectCanonical(input: Uint8Array, reencoded: Uint8Array, what: string): void {
  if (!bytesEq(input, reencoded)) throw new Error(`${what}: accepted ${hexOf(input).slice(0, 200)} but it re-encodes to ${hexOf(reencoded).slice(0, 200)}`)
}

export function expectSameText(input: string, reformatted: string, what: string): void {
  if (input !== reformatted) throw new Error(`${what}: accepted ${JSON.stringify(input.slice(0, 200))} but it re-formats to ${JSON.stringify(reformatted.slice(0, 200))}`)
}
