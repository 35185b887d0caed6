// RFC 9162 §2.1 Merkle tree: transparency-dev vectors, the 8-leaf reference roots, property
// tests over random trees, and proofs over trees larger than 2^32 leaves.

import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { TrothError } from '../../src/errors.ts'
import { fromHex, toHex } from '../../src/ledger/hash.ts'
import {
  CompactRange,
  EMPTY_ROOT,
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  rootAt,
  rootOf,
  subtreeRoot,
  verifyConsistency,
  verifyInclusion,
  type NodeReader,
} from '../../src/ledger/merkle.ts'

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'))
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice()
  out[Math.floor(bit / 8) % out.length] = (out[Math.floor(bit / 8) % out.length] as number) ^ (1 << bit % 8)
  return out
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toSatisfy((e: unknown) => e instanceof TrothError && e.code === code)
}

/** A store of every perfect node the compact range completes; reads outside [0, limit) throw,
 * which checks that a proof for an older size uses only nodes that already existed then. */
function nodeStore(leafHashes: Uint8Array[]): { range: CompactRange; reader: (limit: number) => NodeReader } {
  const nodes = new Map<string, Uint8Array>()
  const range = new CompactRange()
  for (const h of leafHashes) for (const n of range.append(h)) nodes.set(`${n.level}/${n.index}`, n.hash)
  const reader = (limit: number): NodeReader => (level, index) => {
    if ((index + 1) * 2 ** level > limit) throw new Error(`node ${level}/${index} is outside [0, ${limit})`)
    const h = nodes.get(`${level}/${index}`)
    if (h === undefined) throw new Error(`node ${level}/${index} was never stored`)
    return h
  }
  return { range, reader }
}

// --- Reference leaves and roots (test/vectors/README.md, transparency-dev testonly) ---

const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(fromHex)
const ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
]
const LEAF_HASHES = LEAVES.map(leafHash)

describe('reference roots of the 8 test leaves', () => {
  it('EMPTY_ROOT is SHA-256 of nothing', () => {
    expect(toHex(EMPTY_ROOT)).toBe(ROOTS[0])
  })

  it('rootOf matches MTH(D[0:n]) for n = 0..8', () => {
    for (let n = 0; n <= 8; n++) expect(toHex(rootOf(LEAF_HASHES.slice(0, n)))).toBe(ROOTS[n])
  })

  it('CompactRange matches MTH(D[0:n]) after every append, and rootAt from its stored nodes', async () => {
    const { reader } = nodeStore(LEAF_HASHES)
    const range = new CompactRange()
    expect(toHex(range.root())).toBe(ROOTS[0])
    for (let n = 1; n <= 8; n++) {
      range.append(LEAF_HASHES[n - 1] as Uint8Array)
      expect(range.size).toBe(n)
      expect(toHex(range.root())).toBe(ROOTS[n])
      expect(toHex(await rootAt(n, reader(n)))).toBe(ROOTS[n])
    }
  })

  it('append returns the newly completed perfect nodes, leaf first', () => {
    const range = new CompactRange()
    for (let i = 0; i < 7; i++) range.append(LEAF_HASHES[i] as Uint8Array)
    const nodes = range.append(LEAF_HASHES[7] as Uint8Array)
    expect(nodes.map((n) => [n.level, n.index])).toEqual([[0, 7], [1, 3], [2, 1], [3, 0]])
    expect(toHex((nodes[3] as { hash: Uint8Array }).hash)).toBe(ROOTS[8])
  })
})

// --- transparency-dev/merkle testdata (test/vectors/rfc9162, Apache-2.0) ---

interface InclusionCase { leafIdx: number; treeSize: number; root: string; leafHash: string; proof: string[] | null; wantErr: boolean }
interface ConsistencyCase { size1: number; size2: number; root1: string; root2: string; proof: string[] | null; wantErr: boolean }

const VECTORS = fileURLToPath(new URL('../vectors/rfc9162/', import.meta.url))

function loadFixtures(kind: 'inclusion' | 'consistency'): Array<{ name: string; json: unknown }> {
  return readdirSync(join(VECTORS, kind), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.json'))
    .map((e) => {
      const path = join(e.parentPath, e.name)
      return { name: relative(VECTORS, path).split(sep).join('/'), json: JSON.parse(readFileSync(path, 'utf8')) as unknown }
    })
    .sort((a, b) => (a.name < b.name ? -1 : 1))
}

const INCLUSION = loadFixtures('inclusion')
const CONSISTENCY = loadFixtures('consistency')


describe('transparency-dev/merkle testdata', () => {
  it('has all 196 fixtures', () => {
    expect(INCLUSION.length + CONSISTENCY.length).toBe(196)
    expect(INCLUSION.length).toBe(98)
    expect(CONSISTENCY.length).toBe(98)
  })

  it.each(INCLUSION)('$name', ({ json }) => {
    const c = json as InclusionCase
    const ok = verifyInclusion(c.leafIdx, c.treeSize, b64(c.leafHash), (c.proof ?? []).map(b64), b64(c.root))
    expect(ok).toBe(!c.wantErr)
  })

  it.each(CONSISTENCY)('$name', ({ json }) => {
    const c = json as ConsistencyCase
    const ok = verifyConsistency(c.size1, c.size2, b64(c.root1), b64(c.root2), (c.proof ?? []).map(b64))
    expect(ok).toBe(!c.wantErr)
  })

  it('our generated proofs equal every happy-path proof', async () => {
    const { reader } = nodeStore(LEAF_HASHES)
    let checked = 0
    for (const { json } of INCLUSION) {
      const c = json as InclusionCase
      if (c.wantErr || c.treeSize > 8) continue
      const proof = await inclusionProof(c.leafIdx, c.treeSize, reader(c.treeSize))
      expect(proof.map(toHex)).toEqual((c.proof ?? []).map((h) => toHex(b64(h))))
      checked++
    }
    for (const { json } of CONSISTENCY) {
      const c = json as ConsistencyCase
      if (c.wantErr || c.size1 === c.size2) continue
      const proof = await consistencyProof(c.size1, c.size2, reader(c.size2))
      expect(proof.map(toHex)).toEqual((c.proof ?? []).map((h) => toHex(b64(h))))
      checked++
    }
    expect(checked).toBeGreaterThanOrEqual(10)
  })

  it('reproduces the RFC 6962 §2.1.3 proof shapes over 7 leaves', async () => {
    const { reader } = nodeStore(LEAF_HASHES.slice(0, 7))
    const r = reader(7)
    const node = (start: number, end: number): Promise<Uint8Array> => subtreeRoot(start, end, r)
    // PATH(d0) = [b, h, l]; PROOF(3) = [c, d, g, l]; PROOF(4) = [l]; PROOF(6) = [i, j, k].
    const [b, h, l, c, d, g, i, j, k] = await Promise.all([node(1, 2), node(2, 4), node(4, 7), node(2, 3), node(3, 4), node(0, 2), node(4, 6), node(6, 7), node(0, 4)])
    expect(await inclusionProof(0, 7, r)).toEqual([b, h, l])
    expect(await consistencyProof(3, 7, r)).toEqual([c, d, g, l])
    expect(await consistencyProof(4, 7, r)).toEqual([l])
    expect(await consistencyProof(6, 7, r)).toEqual([i, j, k])
  })
})

// --- Properties over random trees of 1..300 leaves ---

const SIZE_MAX = 300
const leavesFor = (seed: number): Uint8Array[] => Array.from({ length: SIZE_MAX + 1 }, (_, i) => leafHash(utf8(`leaf ${seed} ${i}`)))
const ceilLog2 = (n: number): number => Math.ceil(Math.log2(n))

describe('properties', () => {
  it('every inclusion proof verifies, and every mutation fails', async () => {
    const arb = fc.integer({ min: 1, max: SIZE_MAX }).chain((n) => fc.tuple(fc.constant(n), fc.nat(n - 1), fc.nat(), fc.nat(255)))
    await fc.assert(
      fc.asyncProperty(arb, async ([n, i, seed, bit]) => {
        const leaves = leavesFor(seed)
        const { reader } = nodeStore(leaves)
        const rootN = (size: number): Uint8Array => rootOf(leaves.slice(0, size))
        const root = rootN(n)
        const leaf = leaves[i] as Uint8Array
        const proof = await inclusionProof(i, n, reader(n))
        expect(proof.length).toBeLessThanOrEqual(ceilLog2(n))
        expect(verifyInclusion(i, n, leaf, proof, root)).toBe(true)
        for (let j = 0; j < proof.length; j++) {
          const bad = proof.slice()
          bad[j] = flipBit(proof[j] as Uint8Array, bit)
          expect(verifyInclusion(i, n, leaf, bad, root)).toBe(false)
        }
        expect(verifyInclusion(i, n, leaf, proof, flipBit(root, bit))).toBe(false)
        expect(verifyInclusion(i, n, flipBit(leaf, bit), proof, root)).toBe(false)
        expect(verifyInclusion(i + 1, n, leaf, proof, root)).toBe(false)
        expect(verifyInclusion(i - 1, n, leaf, proof, root)).toBe(false)
        // A size is bound to its root by the signed checkpoint, not by the proof: n ± 1 must fail
        // against the root a tree of that size really has.
        expect(verifyInclusion(i, n + 1, leaf, proof, rootN(n + 1))).toBe(false)
        if (n > 1) expect(verifyInclusion(i, n - 1, leaf, proof, rootN(n - 1))).toBe(false)
        expect(verifyInclusion(i, n, leaf, [...proof, root], root)).toBe(false)
        if (proof.length > 0) expect(verifyInclusion(i, n, leaf, proof.slice(1), root)).toBe(false)
      }),
      { numRuns: 150 },
    )
  })

  it('every consistency proof verifies, and every mutation fails', async () => {
    const arb = fc.integer({ min: 1, max: SIZE_MAX }).chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n), fc.nat(), fc.nat(255)))
    await fc.assert(
      fc.asyncProperty(arb, async ([m, n, seed, bit]) => {
        const leaves = leavesFor(seed)
        const { reader } = nodeStore(leaves)
        const rootN = (size: number): Uint8Array => rootOf(leaves.slice(0, size))
        const [root1, root2] = [rootN(m), rootN(n)]
        const proof = await consistencyProof(m, n, reader(n))
        expect(proof.length).toBeLessThanOrEqual(ceilLog2(n) + 1)
        expect(verifyConsistency(m, n, root1, root2, proof)).toBe(true)
        for (let j = 0; j < proof.length; j++) {
          const bad = proof.slice()
          bad[j] = flipBit(proof[j] as Uint8Array, bit)
          expect(verifyConsistency(m, n, root1, root2, bad)).toBe(false)
        }
        expect(verifyConsistency(m, n, flipBit(root1, bit), root2, proof)).toBe(false)
        expect(verifyConsistency(m, n, root1, flipBit(root2, bit), proof)).toBe(false)
        expect(verifyConsistency(m + 1, n, rootN(m + 1), root2, proof)).toBe(false)
        expect(verifyConsistency(m - 1, n, rootN(m - 1), root2, proof)).toBe(false)
        expect(verifyConsistency(m, n + 1, root1, rootN(n + 1), proof)).toBe(false)
        expect(verifyConsistency(m, n - 1, root1, rootN(n - 1), proof)).toBe(false)
        expect(verifyConsistency(m, n, root1, root2, [...proof, root2])).toBe(false)
        if (proof.length > 0) expect(verifyConsistency(m, n, root1, root2, proof.slice(1))).toBe(false)
      }),
      { numRuns: 150 },
    )
  })

  it('CompactRange equals rootOf at every size, and from(frontier) restores it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: SIZE_MAX }), fc.nat(), (n, seed) => {
        const leaves = leavesFor(seed).slice(0, n + 1)
        const range = new CompactRange()
        for (let size = 0; size <= n; size++) {
          expect(range.root()).toEqual(rootOf(leaves.slice(0, size)))
          const restored = CompactRange.from(range.size, range.frontier())
          expect(restored.size).toBe(size)
          expect(restored.frontier()).toEqual(range.frontier())
          expect(restored.root()).toEqual(range.root())
          if (size < n) {
            const next = leaves[size] as Uint8Array
            expect(restored.append(next)).toEqual(range.clone().append(next))
            range.append(next)
            expect(restored.root()).toEqual(range.root())
          }
        }
      }),
      { numRuns: 40 },
    )
  })

  it('clone is independent of the original', () => {
    const range = new CompactRange()
    for (const h of LEAF_HASHES.slice(0, 5)) range.append(h)
    const copy = range.clone()
    copy.append(LEAF_HASHES[5] as Uint8Array)
    expect(range.size).toBe(5)
    expect(toHex(range.root())).toBe(ROOTS[5])
    expect(toHex(copy.root())).toBe(ROOTS[6])
  })
})

// --- Beyond 2^32 leaves ---
// All leaves are equal except one "special" leaf at index P, so the perfect node (l, i) is the
// uniform node of level l, or, if it covers P, the special chain: both computable in O(l). The
// expected proofs come from an independent bigint transcription of RFC 9162 PATH and PROOF.

const UNIFORM_LEAF = leafHash(utf8('uniform'))
const SPECIAL_LEAF = leafHash(utf8('special'))

function sparseTree(p: number): { reader: (limit: number) => NodeReader; mth: (start: bigint, end: bigint) => Uint8Array } {
  const uniform = [UNIFORM_LEAF]
  const special = [SPECIAL_LEAF]
  for (let l = 0; l < 54; l++) {
    const u = uniform[l] as Uint8Array
    const s = special[l] as Uint8Array
    uniform.push(nodeHash(u, u))
    special.push(Math.floor(p / 2 ** l) % 2 === 0 ? nodeHash(s, u) : nodeHash(u, s))
  }
  const reader = (limit: number): NodeReader => (level, index) => {
    if ((index + 1) * 2 ** level > limit) throw new Error(`node ${level}/${index} is outside [0, ${limit})`)
    return (index === Math.floor(p / 2 ** level) ? special[level] : uniform[level]) as Uint8Array
  }
  const P = BigInt(p)
  const uniformRoots = new Map<bigint, Uint8Array>()
  const split = (n: bigint): bigint => {
    let k = 1n
    while (k * 2n < n) k *= 2n
    return k
  }
  const mth = (start: bigint, end: bigint): Uint8Array => {
    const n = end - start
    if (n === 1n) return start === P ? SPECIAL_LEAF : UNIFORM_LEAF
    const uniformRange = P < start || P >= end
    const hit = uniformRange ? uniformRoots.get(n) : undefined
    if (hit !== undefined) return hit
    const k = split(n)
    const root = nodeHash(mth(start, start + k), mth(start + k, end))
    if (uniformRange) uniformRoots.set(n, root)
    return root
  }
  return { reader, mth }
}

function refPath(mth: (s: bigint, e: bigint) => Uint8Array, m: bigint, start: bigint, end: bigint): Uint8Array[] {
  if (end - start === 1n) return []
  let k = 1n
  while (k * 2n < end - start) k *= 2n
  return m < start + k ? [...refPath(mth, m, start, start + k), mth(start + k, end)] : [...refPath(mth, m, start + k, end), mth(start, start + k)]
}

function refSubproof(mth: (s: bigint, e: bigint) => Uint8Array, m: bigint, start: bigint, end: bigint, whole: boolean): Uint8Array[] {
  if (m === end - start) return whole ? [] : [mth(start, end)]
  let k = 1n
  while (k * 2n < end - start) k *= 2n
  return m <= k
    ? [...refSubproof(mth, m, start, start + k, whole), mth(start + k, end)]
    : [...refSubproof(mth, m - k, start + k, end, false), mth(start, start + k)]
}

const BIG_CASES: Array<{ size: number; p: number; others: number[]; olds: number[] }> = [
  { size: 2 ** 32 + 5, p: 2 ** 32 + 1, others: [7, 2 ** 32, 2 ** 32 + 4], olds: [1, 2 ** 32, 2 ** 32 + 2, 2 ** 32 + 4] },
  { size: 2 ** 33 - 1, p: 2 ** 33 - 3, others: [2 ** 32 + 9, 2 ** 33 - 2], olds: [2 ** 31 + 1, 2 ** 33 - 2, 2 ** 32 + 7] },
  { size: 2 ** 40 + 3, p: 2 ** 40 + 2, others: [2 ** 40 - 1, 2 ** 36 + 5], olds: [3, 2 ** 40, 2 ** 40 + 1, 2 ** 40 + 3] },
  { size: 2 ** 52, p: 2 ** 52 - 12_345, others: [2 ** 33 + 1, 2 ** 52 - 1], olds: [2 ** 52 - 12_344, 2 ** 51 + 3, 2 ** 52 - 1] },
  { size: Number.MAX_SAFE_INTEGER, p: 2 ** 53 - 2, others: [2 ** 45 + 17], olds: [2 ** 53 - 3, 2 ** 52 + 1] },
]

describe('trees beyond 2^32 leaves', () => {
  it.each(BIG_CASES)('size $size, special leaf $p', async ({ size, p, others, olds }) => {
    const { reader, mth } = sparseTree(p)
    const root = mth(0n, BigInt(size))
    expect(await rootAt(size, reader(size))).toEqual(root)

    for (const i of [p, ...others]) {
      const leaf = i === p ? SPECIAL_LEAF : UNIFORM_LEAF
      const proof = await inclusionProof(i, size, reader(size))
      expect(proof).toEqual(refPath(mth, BigInt(i), 0n, BigInt(size)))
      expect(verifyInclusion(i, size, leaf, proof, root)).toBe(true)
      expect(verifyInclusion(i, size, leaf, proof, flipBit(root, i % 256))).toBe(false)
      expect(verifyInclusion(i, size, leaf, proof.slice(0, -1), root)).toBe(false)
      const bad = proof.slice()
      bad[proof.length - 1] = flipBit(proof[proof.length - 1] as Uint8Array, 3)
      expect(verifyInclusion(i, size, leaf, bad, root)).toBe(false)
    }
    // The special leaf is unique, so it cannot be proved at a neighbouring index.
    const proofP = await inclusionProof(p, size, reader(size))
    expect(verifyInclusion(p + 1, size, SPECIAL_LEAF, proofP, root)).toBe(false)
    expect(verifyInclusion(p - 1, size, SPECIAL_LEAF, proofP, root)).toBe(false)
    expect(verifyInclusion(p, size, UNIFORM_LEAF, proofP, root)).toBe(false)

    for (const old of olds) {
      const oldRoot = mth(0n, BigInt(old))
      expect(await rootAt(old, reader(old))).toEqual(oldRoot)
      const proof = await consistencyProof(old, size, reader(size))
      expect(proof).toEqual(refSubproof(mth, BigInt(old), 0n, BigInt(size), true))
      expect(verifyConsistency(old, size, oldRoot, root, proof)).toBe(true)
      expect(verifyConsistency(old, size, flipBit(oldRoot, 9), root, proof)).toBe(false)
      expect(verifyConsistency(old, size, oldRoot, flipBit(root, 9), proof)).toBe(false)
      for (let j = 0; j < proof.length; j++) {
        const bad = proof.slice()
        bad[j] = flipBit(proof[j] as Uint8Array, 200)
        expect(verifyConsistency(old, size, oldRoot, root, bad)).toBe(false)
      }
      expect(verifyConsistency(old + 1, size, mth(0n, BigInt(old + 1)), root, proof)).toBe(false)
    }
  })

  it('rejects sizes and indexes that are not safe integers', async () => {
    const { reader } = sparseTree(0)
    const h = UNIFORM_LEAF
    for (const bad of [2 ** 53, 2 ** 53 + 2, 2 ** 64, Infinity, NaN, -1, 1.5]) {
      expect(verifyInclusion(0, bad, h, [], h)).toBe(false)
      expect(verifyInclusion(bad, 2 ** 52, h, [], h)).toBe(false)
      expect(verifyConsistency(1, bad, h, h, [h])).toBe(false)
      expect(verifyConsistency(bad, bad, h, h, [])).toBe(false)
      await rejectsWith(inclusionProof(0, bad, reader(Infinity)), 'merkle.out-of-range')
      await rejectsWith(consistencyProof(1, bad, reader(Infinity)), 'merkle.out-of-range')
      await rejectsWith(rootAt(bad, reader(Infinity)), 'merkle.out-of-range')
      expect(() => CompactRange.from(bad, [])).toThrow(TrothError)
    }
    const full = CompactRange.from(Number.MAX_SAFE_INTEGER, Array.from({ length: 53 }, () => h))
    expect(() => full.append(h)).toThrow(TrothError)
  })
})

describe('input checks', () => {
  it('rejects hashes that are not 32 bytes', () => {
    const h = LEAF_HASHES[0] as Uint8Array
    const short = h.subarray(0, 31)
    expect(verifyInclusion(0, 1, h, [], h)).toBe(true)
    expect(verifyInclusion(0, 1, short, [], short)).toBe(false)
    expect(verifyInclusion(0, 2, h, [short], h)).toBe(false)
    expect(verifyConsistency(1, 2, short, h, [h])).toBe(false)
    expect(verifyConsistency(1, 1, short, short, [])).toBe(true) // equal sizes: roots compared as given, like upstream
    expect(verifyConsistency(1, 2, h, h, [new Uint8Array(33)])).toBe(false)
  })

  it('decides the edge cases outside RFC 9162 §2.1.4.2 as documented', () => {
    const [a, b] = [LEAF_HASHES[0] as Uint8Array, LEAF_HASHES[1] as Uint8Array]
    expect(verifyConsistency(3, 3, a, a, [])).toBe(true)
    expect(verifyConsistency(3, 3, a, b, [])).toBe(false)
    expect(verifyConsistency(3, 3, a, a, [a])).toBe(false)
    expect(verifyConsistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])).toBe(false)
    expect(verifyConsistency(0, 1, EMPTY_ROOT, a, [])).toBe(false)
    expect(verifyConsistency(2, 1, a, a, [])).toBe(false)
  })

  it('refuses proofs it cannot generate, and unaligned ranges', async () => {
    const { reader } = nodeStore(LEAF_HASHES)
    const r = reader(8)
    await rejectsWith(inclusionProof(8, 8, r), 'merkle.out-of-range')
    await rejectsWith(consistencyProof(0, 8, r), 'merkle.out-of-range')
    await rejectsWith(consistencyProof(5, 4, r), 'merkle.out-of-range')
    await rejectsWith(subtreeRoot(1, 3, r), 'merkle.out-of-range')
    await rejectsWith(subtreeRoot(4, 2, r), 'merkle.out-of-range')
    expect(await consistencyProof(8, 8, r)).toEqual([])
    expect(await subtreeRoot(3, 3, r)).toEqual(EMPTY_ROOT)
    expect(toHex(await subtreeRoot(4, 7, r))).toBe(toHex(rootOf(LEAF_HASHES.slice(4, 7))))
  })

  it('CompactRange.from rejects a frontier that does not fit the size', () => {
    const h = LEAF_HASHES[0] as Uint8Array
    expect(() => CompactRange.from(5, [h])).toThrow(TrothError)
    expect(() => CompactRange.from(5, [h, h, h])).toThrow(TrothError)
    expect(() => CompactRange.from(5, [h, h.subarray(1)])).toThrow(TrothError)
    expect(CompactRange.from(5, [h, h]).size).toBe(5)
  })

  it('a reader returning a wrong-length hash is an error, not a proof', async () => {
    await rejectsWith(inclusionProof(0, 2, () => new Uint8Array(31)), 'store.corrupt')
  })
})
