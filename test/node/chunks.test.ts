// The chunk store (DESIGN.md §5.3): chunks are checked against their leaves on the way in,
// proofs verify for every index, state survives reopening, and get() answers with what is on
// disk even when that is no longer the chunk.

import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { TrothError, type ErrorCode } from '../../src/errors.ts'
import { toHex } from '../../src/ledger/hash.ts'
import { CHUNK_BYTES } from '../../src/ledger/limits.ts'
import { leafHash, rootOf, verifyInclusion } from '../../src/ledger/merkle.ts'
import { ChunkStore } from '../../src/node/chunks.ts'

const dirs: string[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'troth-chunks-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  while (dirs.length > 0) rmSync(dirs.pop() as string, { recursive: true, force: true })
})

interface Snap {
  rootHex: string
  size: number
  chunks: Uint8Array[]
  leaves: Uint8Array[]
}

/** A snapshot of n chunks whose last one holds `lastBytes`. */
function snapshot(n: number, lastBytes = 1000): Snap {
  const chunks = Array.from({ length: n }, (_, i) => new Uint8Array(randomBytes(i < n - 1 ? CHUNK_BYTES : lastBytes)))
  const leaves = chunks.map(leafHash)
  return { rootHex: toHex(rootOf(leaves)), size: (n - 1) * CHUNK_BYTES + lastBytes, chunks, leaves }
}

/** Leaves only, for proofs over many chunks without writing their bytes. */
function leavesOnly(n: number): Snap {
  const leaves = Array.from({ length: n }, () => new Uint8Array(randomBytes(32)))
  return { rootHex: toHex(rootOf(leaves)), size: n * CHUNK_BYTES, chunks: [], leaves }
}

async function codeOf(p: Promise<unknown>): Promise<ErrorCode> {
  try {
    await p
  } catch (err) {
    if (err instanceof TrothError) return err.code
    throw err
  }
  throw new Error('expected a TrothError, nothing was thrown')
}

describe('ChunkStore', () => {
  it('refuses bad roots, bad shapes and leaves that do not give the root', async () => {
    const store = await ChunkStore.open(tempDir())
    const s = snapshot(3)
    for (const bad of ['', 'ab', s.rootHex.toUpperCase(), `${s.rootHex}0`, '../'.repeat(21) + 'a', `${s.rootHex.slice(0, 63)}g`]) {
      expect(await codeOf(store.begin(bad, s.size, 3, s.leaves))).toBe('input.invalid')
      expect(await codeOf(store.get(bad, 0))).toBe('input.invalid')
    }
    expect(await codeOf(store.begin(s.rootHex, s.size, 2, s.leaves))).toBe('input.invalid') // count ≠ leaves
    expect(await codeOf(store.begin(s.rootHex, 2 * CHUNK_BYTES, 3, s.leaves))).toBe('input.invalid') // last chunk empty
    expect(await codeOf(store.begin(s.rootHex, 3 * CHUNK_BYTES + 1, 3, s.leaves))).toBe('input.invalid') // too big
    expect(await codeOf(store.begin(s.rootHex, s.size, 3, [...s.leaves].reverse()))).toBe('input.invalid') // another root
    expect(await codeOf(store.begin(s.rootHex, s.size, 3, [s.leaves[0]!, s.leaves[1]!, new Uint8Array(31)]))).toBe('input.invalid')
    expect(await store.list()).toEqual([])
  })

  it('puts only the right bytes at the right index', async () => {
    const dir = tempDir()
    const store = await ChunkStore.open(dir)
    const s = snapshot(3, 5)
    expect(await codeOf(store.put(s.rootHex, 0, s.chunks[0]!))).toBe('input.not-found') // no begin yet
    await store.begin(s.rootHex, s.size, 3, s.leaves)
    const flipped = s.chunks[0]!.slice()
    flipped[1234] = flipped[1234]! ^ 1
    expect(await codeOf(store.put(s.rootHex, 0, flipped))).toBe('input.invalid')
    expect(await codeOf(store.put(s.rootHex, 1, s.chunks[0]!))).toBe('input.invalid') // right size, wrong leaf
    expect(await codeOf(store.put(s.rootHex, 0, s.chunks[0]!.subarray(1)))).toBe('input.invalid') // short non-last
    expect(await codeOf(store.put(s.rootHex, 2, new Uint8Array(6)))).toBe('input.invalid') // last, wrong length
    for (const index of [-1, 3, 1.5, Number.NaN]) {
      expect(await codeOf(store.put(s.rootHex, index, s.chunks[2]!))).toBe('input.invalid')
      expect(await codeOf(store.get(s.rootHex, index))).toBe('input.invalid')
      expect(await codeOf(store.proof(s.rootHex, index))).toBe('input.invalid')
    }
    expect(await store.missing(s.rootHex)).toEqual([0, 1, 2])
    await store.put(s.rootHex, 2, s.chunks[2]!)
    expect(await store.get(s.rootHex, 2)).toEqual(s.chunks[2])
    expect(await store.get(s.rootHex, 0)).toBeNull()
    // Only the chunk and meta files: no temp file left behind.
    expect(readdirSync(join(dir, s.rootHex)).sort()).toEqual(['2', 'meta'])
  })

  for (const n of [1, 2, 5, 80]) {
    it(`proofs verify for every index of a ${n}-chunk snapshot, and fail for any other leaf`, async () => {
      const store = await ChunkStore.open(tempDir())
      const s = leavesOnly(n)
      await store.begin(s.rootHex, s.size, n, s.leaves)
      const root = rootOf(s.leaves)
      for (let i = 0; i < n; i++) {
        const proof = await store.proof(s.rootHex, i)
        expect(verifyInclusion(i, n, s.leaves[i]!, proof, root)).toBe(true)
        expect(verifyInclusion(i, n, s.leaves[(i + 1) % n]!, proof, root)).toBe(n === 1)
        if (proof.length > 0) {
          proof[0]![0] = proof[0]![0]! ^ 1 // a mutated copy must not poison the cache
          expect(verifyInclusion(i, n, s.leaves[i]!, proof, root)).toBe(false)
          expect(verifyInclusion(i, n, s.leaves[i]!, await store.proof(s.rootHex, i), root)).toBe(true)
        }
      }
    })
  }

  it('proofs stay right while the cache evicts roots', async () => {
    const store = await ChunkStore.open(tempDir())
    const snaps = Array.from({ length: 12 }, (_, i) => leavesOnly(3 + i))
    for (const s of snaps) await store.begin(s.rootHex, s.size, s.leaves.length, s.leaves)
    for (let round = 0; round < 2; round++) {
      for (const s of snaps) {
        const i = s.leaves.length - 1
        expect(verifyInclusion(i, s.leaves.length, s.leaves[i]!, await store.proof(s.rootHex, i), rootOf(s.leaves))).toBe(true)
      }
    }
  })

  it('tracks missing chunks, refuses to complete early, and survives reopening', async () => {
    const dir = tempDir()
    let store = await ChunkStore.open(dir)
    const s = snapshot(5, CHUNK_BYTES)
    await store.begin(s.rootHex, s.size, 5, s.leaves)
    expect(await store.missing(s.rootHex)).toEqual([0, 1, 2, 3, 4])
    for (const i of [0, 2, 4]) await store.put(s.rootHex, i, s.chunks[i]!)
    expect(await store.missing(s.rootHex)).toEqual([1, 3])
    expect(await codeOf(store.markComplete(s.rootHex))).toBe('input.invalid')
    expect((await store.info(s.rootHex))?.complete).toBe(false)

    store = await ChunkStore.open(dir)
    expect(await store.list()).toEqual([s.rootHex])
    expect(await store.missing(s.rootHex)).toEqual([1, 3])
    for (const i of [1, 3]) await store.put(s.rootHex, i, s.chunks[i]!)
    await store.markComplete(s.rootHex)

    store = await ChunkStore.open(dir)
    expect(await store.info(s.rootHex)).toEqual({ size: s.size, chunks: 5, leaves: s.leaves, complete: true })
    for (let i = 0; i < 5; i++) {
      expect(await store.get(s.rootHex, i)).toEqual(s.chunks[i])
      expect(verifyInclusion(i, 5, s.leaves[i]!, await store.proof(s.rootHex, i), rootOf(s.leaves))).toBe(true)
    }
  })

  it('get answers with the bytes on disk, even corrupted ones', async () => {
    const dir = tempDir()
    const store = await ChunkStore.open(dir)
    const s = snapshot(2, 100)
    await store.begin(s.rootHex, s.size, 2, s.leaves)
    await store.put(s.rootHex, 1, s.chunks[1]!)
    const garbage = new Uint8Array(randomBytes(100))
    writeFileSync(join(dir, s.rootHex, '1'), garbage)
    expect(await store.get(s.rootHex, 1)).toEqual(garbage)
    writeFileSync(join(dir, s.rootHex, '1'), new Uint8Array(CHUNK_BYTES + 1))
    expect(await codeOf(store.get(s.rootHex, 1))).toBe('store.corrupt')
    expect(await store.get(toHex(new Uint8Array(32)), 0)).toBeNull() // unknown root
  })

  it('refuses a damaged meta file, and remove forgets a root', async () => {
    const dir = tempDir()
    const s = snapshot(2, 10)
    let store = await ChunkStore.open(dir)
    await store.begin(s.rootHex, s.size, 2, s.leaves)
    const other = snapshot(1, 10)
    await store.begin(other.rootHex, other.size, 1, other.leaves)
    expect(await store.list()).toEqual([s.rootHex, other.rootHex].sort())

    // Meta filed under the wrong root: the leaves no longer hash to the directory's name.
    writeFileSync(join(dir, s.rootHex, 'meta'), readFileSync(join(dir, other.rootHex, 'meta')))
    store = await ChunkStore.open(dir)
    expect(await codeOf(store.info(s.rootHex))).toBe('store.corrupt')
    writeFileSync(join(dir, s.rootHex, 'meta'), Uint8Array.of(0xa0, 0x00))
    store = await ChunkStore.open(dir)
    expect(await codeOf(store.info(s.rootHex))).toBe('store.corrupt')

    await store.remove(s.rootHex)
    expect(await store.info(s.rootHex)).toBeNull()
    expect(await store.list()).toEqual([other.rootHex])
    expect(await codeOf(store.missing(s.rootHex))).toBe('input.not-found')
  })
})
