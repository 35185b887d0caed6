// Fuzzing the snapshot archive reader (src/obligation/snapshot.ts unpackSnapshot), which
// `troth fetch` runs on a stream whose root any member may have sealed: header, manifest (strict
// CBOR, path rules, order, sizes) and file bytes are all hostile. It unpacks or throws a
// TrothError; it never writes outside the output path, leaves no staging debris behind, and what
// it unpacks archives back to exactly the stream it read.

import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe } from 'vitest'
import { encode, type CborValue } from '../../src/ledger/encoding.ts'
import { snapshotChunks, unpackSnapshot } from '../../src/obligation/snapshot.ts'
import { DECODE_CODES, attemptAsync, expectCanonical, fuzzAsync } from './harness.ts'
import { applyStep, stepArb, type Step } from './mutate.ts'
import { scratchDir } from './scratch.ts'

const CODES = [...DECODE_CODES, 'input.invalid', 'input.too-large', 'input.not-found'] as const

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const c of chunks) parts.push(c)
  return new Uint8Array(Buffer.concat(parts))
}

function header(length: number): Uint8Array {
  const h = new Uint8Array(8)
  new DataView(h.buffer).setBigUint64(0, BigInt(length))
  return h
}

interface Archive {
  readonly manifest: Uint8Array
  readonly body: Uint8Array
}

/** The sample with its manifest mutated (CBOR-aware steps reach it), the header fixed or not. */
function mutateManifest(sample: Uint8Array, steps: readonly Step[], fixHeader: boolean): Uint8Array {
  const length = Number(new DataView(sample.buffer, sample.byteOffset).getBigUint64(0))
  const manifest = steps.reduce((b, s) => applyStep(b, s, []), sample.subarray(8, 8 + length))
  return new Uint8Array(Buffer.concat([header(fixHeader ? manifest.length : length), manifest, sample.subarray(8 + length)]))
}

const split = (a: Archive): Uint8Array => new Uint8Array(Buffer.concat([header(a.manifest.length), a.manifest, a.body]))

/** Paths at the edges of the rules: traversal, absolute, empty parts, NUL, backslash, case, long. */
const path = fc.oneof(
  fc.constantFrom('a', 'a/b', 'a/b/c', 'b', 'c.txt', 'A', '..', '.', 'a/..', '../x', '/abs', 'a//b', 'a/', '', 'a\u0000b', 'a\\b', 'x'.repeat(4097), '\u00e9', 'e\u0301'),
  fc.string({ maxLength: 8 }),
)
const manifestArb = fc
  .record({
    dirs: fc.array(path, { maxLength: 3 }),
    files: fc.array(fc.record({ path, size: fc.oneof(fc.nat(8), fc.constantFrom(2 ** 50, 2 ** 53 - 1)), exec: fc.boolean() }), { maxLength: 3 }),
    sort: fc.boolean(),
    extra: fc.option(fc.constantFrom<CborValue>(1, 'x', null), { nil: null }),
  })
  .map(({ dirs, files, sort, extra }) => {
    const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))
    const d = sort ? [...dirs].sort(byBytes) : dirs
    const f = sort ? [...files].sort((x, y) => byBytes(x.path, y.path)) : files
    const m: Record<string, CborValue> = { dirs: d, files: f.map((x) => ({ path: x.path, size: x.size, exec: x.exec })) }
    if (extra !== null) m.more = extra
    const body = new Uint8Array(f.reduce((s, x) => s + Math.min(x.size, 16), 0)).fill(0x61)
    return { manifest: encode(m), body }
  })

describe('fuzz: snapshot archives', () => {
  const scratch = scratchDir('snapshot')
  const samples: Uint8Array[] = []
  const setup = async (): Promise<void> => {
    const src = join(scratch.path, 'src')
    mkdirSync(join(src, 'docs', 'empty'), { recursive: true })
    writeFileSync(join(src, 'docs', 'minutes.txt'), 'the minutes\n')
    writeFileSync(join(src, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 })
    writeFileSync(join(src, 'z'), '')
    samples.push(await collect(snapshotChunks(src, 'dir')))
  }
  let n = 0

  const input = fc.record({
    stream: fc.oneof(
      { arbitrary: fc.tuple(fc.constant(0), fc.array(stepArb, { minLength: 1, maxLength: 3 })).map(([i, steps]) => ({ kind: 'mutated' as const, i, steps })), weight: 5 },
      { arbitrary: fc.tuple(fc.array(stepArb, { minLength: 1, maxLength: 3 }), fc.boolean()).map(([steps, fixHeader]) => ({ kind: 'manifest' as const, steps, fixHeader })), weight: 4 },
      { arbitrary: manifestArb.map((a) => ({ kind: 'shaped' as const, a })), weight: 4 },
      { arbitrary: fc.constant({ kind: 'sample' as const }), weight: 1 },
      { arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ kind: 'random' as const, bytes })), weight: 1 },
    ),
    sizeDelta: fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: fc.integer({ min: -3, max: 3 }), weight: 1 }),
    pieces: fc.integer({ min: 1, max: 4 }),
    isDir: fc.oneof({ arbitrary: fc.constant(true), weight: 9 }, { arbitrary: fc.constant(false), weight: 1 }),
  })

  fuzzAsync(
    'unpackSnapshot: a hostile archive stream unpacks (and archives back to the same bytes) or fails with a TrothError, leaving nothing behind',
    input,
    async ({ stream, sizeDelta, pieces, isDir }) => {
      const sample = samples[0] as Uint8Array
      const bytes =
        stream.kind === 'mutated' ? stream.steps.reduce((b, s) => applyStep(b, s, samples), sample)
        : stream.kind === 'manifest' ? mutateManifest(sample, stream.steps, stream.fixHeader)
        : stream.kind === 'shaped' ? split(stream.a)
        : stream.kind === 'random' ? stream.bytes
        : sample
      const size = bytes.length + sizeDelta
      const parent = join(scratch.path, `out-${n++}`)
      mkdirSync(parent)
      const out = join(parent, 'restored')
      const step = Math.max(1, Math.ceil(bytes.length / pieces))
      const chunks = (async function* () {
        for (let at = 0; at < bytes.length; at += step) yield bytes.subarray(at, at + step)
      })()
      const r = await attemptAsync(() => unpackSnapshot(isDir, chunks, out, size), CODES)
      const left = readdirSync(parent)
      if (r.ok) {
        if (left.length !== 1 || left[0] !== 'restored') throw new Error(`unpacked, and left ${left.join(', ')}`)
        if (isDir) expectCanonical(bytes, await collect(snapshotChunks(out, 'dir')), 'snapshot archive')
      } else if (left.length !== 0) {
        throw new Error(`failed (${r.error.message}) and left ${left.join(', ')} behind`)
      }
    },
    { before: setup, after: () => scratch.remove() },
  )
})
