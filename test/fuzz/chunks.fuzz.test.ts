// Fuzzing the chunk store (src/node/chunks.ts): its meta files after a crash or a lying disk, and
// the roots, indexes and chunk bytes that come from peers (the /chunk/1 and /audit/1 handlers and
// snapshot fetches pass them on). Every call returns or throws a TrothError; an accepted meta file
// is exactly the canonical encoding of what it says, and its leaves hash to the root it is filed under.

import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe } from 'vitest'
import { encode } from '../../src/ledger/encoding.ts'
import { toHex } from '../../src/ledger/hash.ts'
import { CHUNK_BYTES } from '../../src/ledger/limits.ts'
import { leafHash, rootOf } from '../../src/ledger/merkle.ts'
import { ChunkStore } from '../../src/node/chunks.ts'
import { DECODE_CODES, attemptAsync, expectCanonical, fuzzAsync } from './harness.ts'
import { fieldValueArb, hostileBytes, setField, shapedMapArb } from './mutate.ts'
import { scratchDir } from './scratch.ts'

const CODES = [...DECODE_CODES, 'store.corrupt', 'input.invalid', 'input.not-found', 'input.too-large'] as const

/** A small real snapshot: three chunks, the last one short. */
const data = [new Uint8Array(CHUNK_BYTES).fill(1), new Uint8Array(CHUNK_BYTES).fill(2), Uint8Array.of(3, 3, 3)]
const leaves = data.map(leafHash)
const root = rootOf(leaves)
const rootHex = toHex(root)
const size = 2 * CHUNK_BYTES + 3
const metaOf = (m: { size: number; chunks: number; leaves: Uint8Array; complete: boolean }): Uint8Array => encode(m)
const concat = (ls: readonly Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(ls))
const goodMeta = [metaOf({ size, chunks: 3, leaves: concat(leaves), complete: true }), metaOf({ size, chunks: 3, leaves: concat(leaves), complete: false })]

/** Meta maps with hostile fields; `own` files them under the root of their own leaves, so the
 * shape checks behind the root check run too. */
const shapedMeta = fc
  .record({
    m: shapedMapArb(['size', 'chunks', 'complete'], fc.oneof(fieldValueArb(), fc.constantFrom(0, 1, 3, size, CHUNK_BYTES, 2 ** 22, 2 ** 22 + 1, 2 ** 50, 2 ** 53 - 1))),
    leafCount: fc.oneof(fc.nat(5), fc.constant(3)),
    ragged: fc.boolean(),
    own: fc.boolean(),
  })
  .map(({ m, leafCount, ragged, own }) => {
    const ls = Array.from({ length: leafCount }, (_, i) => leaves[i % 3] as Uint8Array)
    const all = ragged ? concat([...ls, Uint8Array.of(1)]) : concat(ls)
    setField(m, 'leaves', all)
    return { bytes: encode(m), root: own && !ragged && leafCount > 0 ? toHex(rootOf(ls)) : rootHex }
  })

const metaInput = fc.oneof(
  hostileBytes(goodMeta).map((bytes) => ({ bytes, root: rootHex })),
  shapedMeta,
)

/** What peers hand the store: any root text, any index, any bytes. */
const rootText = fc.oneof(fc.constant(rootHex), fc.constantFrom('', '..', '../../etc', rootHex.toUpperCase(), `${rootHex}/..`, '0'.repeat(64), `${rootHex.slice(0, 63)}g`), fc.string({ maxLength: 70 }))
const index = fc.oneof(fc.nat(4), fc.constantFrom(-1, 1.5, Number.NaN, Infinity, 2 ** 53, 2 ** 32), fc.integer())
const chunkBytes = fc.oneof(fc.constantFrom(...data), fc.uint8Array({ maxLength: 16 }), fc.constant(new Uint8Array(CHUNK_BYTES + 1)))
const call = fc.oneof(
  fc.record({ op: fc.constant('put' as const), root: rootText, index, bytes: chunkBytes }),
  fc.record({ op: fc.constantFrom('get' as const, 'proof' as const), root: rootText, index }),
  fc.record({ op: fc.constantFrom('info' as const, 'missing' as const, 'markComplete' as const, 'remove' as const), root: rootText }),
  fc.record({ op: fc.constant('begin' as const), root: rootText, size: fc.oneof(fc.constant(size), fc.integer()), chunks: fc.oneof(fc.constant(3), fc.integer({ min: -1, max: 2 ** 23 })), leaves: fc.oneof(fc.constant(leaves), fc.array(fc.uint8Array({ minLength: 31, maxLength: 33 }), { maxLength: 4 })) }),
)

describe('fuzz: chunk store', () => {
  const dir = scratchDir('chunks')
  let n = 0
  fuzzAsync(
    'ChunkStore meta: a hostile meta file loads as what it says or fails with a TrothError; accepted ones are canonical and hash to their root',
    metaInput,
    async ({ bytes, root: filed }) => {
      const base = join(dir.path, `meta-${n++}`)
      mkdirSync(join(base, filed), { recursive: true })
      writeFileSync(join(base, filed, 'meta'), bytes)
      const store = await ChunkStore.open(base)
      const r = await attemptAsync(() => store.info(filed), CODES)
      if (r.ok && r.value !== null) {
        expectCanonical(bytes, metaOf({ size: r.value.size, chunks: r.value.chunks, leaves: concat(r.value.leaves), complete: r.value.complete }), 'chunk meta')
        if (toHex(rootOf(r.value.leaves)) !== filed) throw new Error('accepted leaves that do not hash to their root')
      }
      await attemptAsync(() => store.remove(filed), CODES)
    },
    { after: () => dir.remove() },
  )

  const store = scratchDir('chunk-calls')
  fuzzAsync(
    'ChunkStore calls with a peer\'s roots, indexes and bytes return or fail with a TrothError, and never write outside the store',
    fc.array(call, { minLength: 1, maxLength: 5 }),
    async (calls) => {
      const s = await ChunkStore.open(join(store.path, 'store'))
      await s.begin(rootHex, size, 3, leaves)
      for (const c of calls) {
        switch (c.op) {
          case 'put': await attemptAsync(() => s.put(c.root, c.index, c.bytes), CODES); break
          case 'get': await attemptAsync(() => s.get(c.root, c.index), CODES); break
          case 'proof': await attemptAsync(() => s.proof(c.root, c.index), CODES); break
          case 'info': await attemptAsync(() => s.info(c.root), CODES); break
          case 'missing': await attemptAsync(() => s.missing(c.root), CODES); break
          case 'markComplete': await attemptAsync(() => s.markComplete(c.root), CODES); break
          case 'remove': await attemptAsync(() => s.remove(c.root), CODES); break
          case 'begin': await attemptAsync(() => s.begin(c.root, c.size, c.chunks, c.leaves), CODES); break
        }
      }
      const listed = await s.list()
      if (listed.some((r) => r !== rootHex && r !== '0'.repeat(64))) throw new Error(`the store lists roots it was never given whole: ${listed.join(', ')}`)
      await s.remove(rootHex)
      const outside = readdirSync(store.path)
      if (outside.length !== 1 || outside[0] !== 'store') throw new Error(`the store wrote beside itself: ${outside.join(', ')}`)
    },
    { after: () => store.remove() },
  )
})
