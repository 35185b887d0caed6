// Fuzzing the vote write-ahead log's loader (src/node/wal.ts FileWal.load): after a crash or a
// lying disk the file holds anything. load() returns the votes of its intact records or throws a
// TrothError; a torn tail is cut off, what remains re-encodes to the very bytes on disk, and a
// second load reads the same votes.

import { createHash } from 'node:crypto'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe } from 'vitest'
import { encode, type CborValue } from '../../src/ledger/encoding.ts'
import { voteToCbor } from '../../src/ledger/consensus/messages.ts'
import { FileWal } from '../../src/node/wal.ts'
import { DECODE_CODES, attemptAsync, expectCanonical, fuzzAsync, hexOf } from './harness.ts'
import { cborValueArb, hostileBytes, shapedMapArb } from './mutate.ts'
import { scratchDir } from './scratch.ts'
import * as corpus from './corpus.ts'

const CODES = [...DECODE_CODES, 'store.corrupt', 'id.invalid-member-id', 'id.invalid-key'] as const

/** The WAL's record: u32be length || CBOR body || first 4 bytes of SHA-256(body). */
function record(body: Uint8Array, length = body.length): Uint8Array {
  const out = Buffer.alloc(8 + body.length)
  out.writeUInt32BE(length >>> 0, 0)
  out.set(body, 4)
  out.set(createHash('sha256').update(body).digest().subarray(0, 4), 4 + body.length)
  return new Uint8Array(out)
}

const voteBodies = (): Uint8Array[] => corpus.votes().map((v) => encode(voteToCbor(v)))
const walFile = (bodies: readonly Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(bodies.map((b) => record(b))))

/** Files of records whose checksums hold but whose bodies are hostile: the decoder runs on them. */
const checksummed = fc
  .array(
    fc.oneof(
      fc.constantFrom(...voteBodies()),
      hostileBytes(voteBodies()),
      shapedMapArb(['kind', 'epoch', 'view', 'parent', 'digest', 'signer', 'sig']).map((m) => encode(m)),
      cborValueArb.map((v: CborValue) => encode(v)),
    ),
    { maxLength: 4 },
  )
  .chain((bodies) => fc.record({ bodies: fc.constant(bodies), lie: fc.option(fc.tuple(fc.nat(Math.max(0, bodies.length - 1)), fc.constantFrom(0, 1, 4095, 4096, 4097, 2 ** 32 - 1)), { nil: null }), tail: fc.uint8Array({ maxLength: 12 }) }))
  .map(({ bodies, lie, tail }) => {
    const recs = bodies.map((b, i) => record(b, lie !== null && lie[0] === i ? lie[1] : b.length))
    return new Uint8Array(Buffer.concat([...recs, tail]))
  })

describe('fuzz: vote WAL', () => {
  const dir = scratchDir('wal')
  let n = 0
  const samples = [walFile(voteBodies()), walFile(voteBodies().slice(0, 2)), walFile([])]
  fuzzAsync(
    'FileWal.load: a hostile WAL file loads its intact votes or fails with a TrothError; what it keeps re-encodes to the bytes on disk',
    hostileBytes(samples.filter((s) => s.length > 0), [checksummed], 64),
    async (bytes) => {
      const path = join(dir.path, `wal-${n++}`)
      writeFileSync(path, bytes)
      const wal = new FileWal(path)
      const r = await attemptAsync(() => wal.load(), CODES)
      await wal.close()
      if (r.ok) {
        const kept = new Uint8Array(readFileSync(path))
        expectCanonical(kept, walFile(r.value.map((v) => encode(voteToCbor(v)))), 'vote WAL')
        if (hexOf(kept) !== hexOf(bytes.subarray(0, kept.length))) throw new Error('load() changed bytes it kept')
        const again = new FileWal(path)
        const second = await again.load()
        await again.close()
        if (second.length !== r.value.length) throw new Error(`a second load read ${second.length} votes, the first ${r.value.length}`)
      }
      rmSync(path, { force: true })
    },
    { after: () => dir.remove() },
  )
})
