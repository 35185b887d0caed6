// The log's Merkle tree (DESIGN.md §3.2): RFC 9162 §2.1 hashing, a compact range for O(log n)
// appends, proof generation from stored perfect subtree nodes, and proof verification.
// Sizes and indexes are JS numbers but never meet a 32-bit bit operator (`>>`, `&`, `|`, `<<`):
// halving is Math.floor(x / 2) and parity x % 2, exact for every safe integer (< 2^53).
// docs/merkle.md describes the node addressing and the verification decisions.

import { TrothError, assert } from '../errors.ts'
import { HASH_BYTES, bytesEqual, sha256 } from './hash.ts'

const LEAF_PREFIX = Uint8Array.of(0x00)
const NODE_PREFIX = Uint8Array.of(0x01)

/** MTH({}) = SHA-256() (RFC 9162 §2.1.1). */
export const EMPTY_ROOT: Uint8Array = sha256()

/** RFC 9162 §2.1.1: MTH({d}) = SHA-256(0x00 || d). */
export function leafHash(leaf: Uint8Array): Uint8Array {
  return sha256(LEAF_PREFIX, leaf)
}

/** RFC 9162 §2.1.1: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE_PREFIX, left, right)
}

/** A perfect subtree node: (level, index) covers leaves [index·2^level, (index+1)·2^level). */
export interface TreeNode {
  level: number
  index: number
  hash: Uint8Array
}

/** Reads a stored perfect node; may be sync or async. It must throw if it does not have it. */
export type NodeReader = (level: number, index: number) => Uint8Array | Promise<Uint8Array>

function isHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_BYTES
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

function checkCount(n: number, what: string): void {
  if (!isCount(n)) throw new TrothError('merkle.out-of-range', `${what} must be an integer in [0, 2^53), got ${String(n)}`)
}

/** Largest power of 2 less than or equal to n, for n >= 1, and its exponent. */
function highestPower(n: number): { size: number; level: number } {
  let size = 1
  let level = 0
  while (size * 2 <= n) {
    size *= 2
    level++
  }
  return { size, level }
}

/** Largest power of 2 strictly less than n, for n >= 2: the k of RFC 9162 §2.1.1. */
function splitPoint(n: number): number {
  return highestPower(n - 1).size
}

/** MTH over leaf hashes: the recursive reference definition of RFC 9162 §2.1.1. */
export function rootOf(leafHashes: readonly Uint8Array[]): Uint8Array {
  const mth = (start: number, end: number): Uint8Array => {
    if (end - start === 1) return leafHashes[start] as Uint8Array
    const k = splitPoint(end - start)
    return nodeHash(mth(start, start + k), mth(start + k, end))
  }
  return leafHashes.length === 0 ? EMPTY_ROOT : mth(0, leafHashes.length)
}

/** The frontier of a tree of `size` leaves: the roots of its perfect subtrees, left to right
 * (one per 1-bit of size, largest first). O(log n) memory, O(1) amortised hashing per append. */
export class CompactRange {
  #size = 0
  #hashes: Uint8Array[] = []

  /** Restores a range saved with frontier(). Throws if the hashes do not fit the size. */
  static from(size: number, frontierHashes: readonly Uint8Array[]): CompactRange {
    checkCount(size, 'tree size')
    let ones = 0
    for (let s = size; s > 0; s = Math.floor(s / 2)) ones += s % 2
    if (frontierHashes.length !== ones || !frontierHashes.every(isHash)) {
      throw new TrothError('schema.invalid', `a tree of size ${size} needs ${ones} frontier hashes of ${HASH_BYTES} bytes, got ${frontierHashes.length}`)
    }
    const range = new CompactRange()
    range.#size = size
    range.#hashes = frontierHashes.map((h) => h.slice())
    return range
  }

  get size(): number {
    return this.#size
  }

  frontier(): Uint8Array[] {
    return this.#hashes.map((h) => h.slice())
  }

  clone(): CompactRange {
    return CompactRange.from(this.#size, this.#hashes)
  }

  /** Appends one leaf hash; returns every perfect node it completes, the leaf (level 0) first,
   * so a store can persist them for proof generation. */
  append(leaf: Uint8Array): TreeNode[] {
    assert(isHash(leaf), `a leaf hash must be ${HASH_BYTES} bytes`)
    checkCount(this.#size + 1, 'tree size')
    let hash: Uint8Array = leaf.slice()
    let level = 0
    let index = this.#size
    const completed: TreeNode[] = [{ level, index, hash }]
    // Each trailing 1-bit of the old size is a left sibling waiting for this subtree.
    for (let s = this.#size; s % 2 === 1; s = Math.floor(s / 2)) {
      hash = nodeHash(this.#hashes.pop() as Uint8Array, hash)
      level++
      index = Math.floor(index / 2)
      completed.push({ level, index, hash })
    }
    this.#hashes.push(hash)
    this.#size++
    return completed
  }

  /** MTH of the whole tree: the frontier folded from the right (RFC 9162 §2.1.1). */
  root(): Uint8Array {
    let i = this.#hashes.length - 1
    if (i < 0) return EMPTY_ROOT
    let root = this.#hashes[i] as Uint8Array
    while (--i >= 0) root = nodeHash(this.#hashes[i] as Uint8Array, root)
    return root
  }
}

async function readNode(read: NodeReader, level: number, index: number): Promise<Uint8Array> {
  const hash = await read(level, index)
  if (!isHash(hash)) throw new TrothError('store.corrupt', `stored node (${level}, ${index}) is not a ${HASH_BYTES}-byte hash`)
  return hash
}

/** MTH(D[start:end]) from stored perfect nodes: the range splits into perfect subtrees, largest
 * first, folded from the right. The range must be aligned as every range in RFC 9162's
 * recursion is (start a multiple of the largest power of 2 ≤ end − start), so at most
 * ⌈log2 n⌉ nodes are read. */
export async function subtreeRoot(start: number, end: number, read: NodeReader): Promise<Uint8Array> {
  checkCount(start, 'range start')
  checkCount(end, 'range end')
  if (end < start) throw new TrothError('merkle.out-of-range', `range [${start}, ${end}) is reversed`)
  if (end === start) return EMPTY_ROOT
  if (start % highestPower(end - start).size !== 0) throw new TrothError('merkle.out-of-range', `range [${start}, ${end}) is not aligned to the tree's nodes`)
  const parts: Uint8Array[] = []
  for (let offset = start; offset < end; ) {
    const { size, level } = highestPower(end - offset)
    parts.push(await readNode(read, level, offset / size))
    offset += size
  }
  let root = parts.pop() as Uint8Array
  for (let i = parts.length - 1; i >= 0; i--) root = nodeHash(parts[i] as Uint8Array, root)
  return root
}

/** MTH(D[0:size]). */
export function rootAt(size: number, read: NodeReader): Promise<Uint8Array> {
  return subtreeRoot(0, size, read)
}

/** RFC 9162 §2.1.3.1 PATH(m, D[n]), leaf sibling first. */
export async function inclusionProof(leafIndex: number, treeSize: number, read: NodeReader): Promise<Uint8Array[]> {
  checkCount(leafIndex, 'leaf index')
  checkCount(treeSize, 'tree size')
  if (leafIndex >= treeSize) throw new TrothError('merkle.out-of-range', `leaf ${leafIndex} is not in a tree of size ${treeSize}`)
  const path: Uint8Array[] = []
  let start = 0
  let end = treeSize
  while (end - start > 1) {
    const k = splitPoint(end - start)
    if (leafIndex < start + k) {
      path.push(await subtreeRoot(start + k, end, read))
      end = start + k
    } else {
      path.push(await subtreeRoot(start, start + k, read))
      start += k
    }
  }
  return path.reverse()
}

/** RFC 9162 §2.1.4.1 PROOF(m, D[n]) for 0 < m ≤ n (empty when m = n). */
export async function consistencyProof(size1: number, size2: number, read: NodeReader): Promise<Uint8Array[]> {
  checkCount(size1, 'old tree size')
  checkCount(size2, 'new tree size')
  if (size1 === 0 || size1 > size2) throw new TrothError('merkle.out-of-range', `no consistency proof from size ${size1} to size ${size2}`)
  const proof: Uint8Array[] = []
  let start = 0
  let end = size2
  let m = size1
  let complete = true // SUBPROOF's b: the old tree is still the whole of D[start:end]'s prefix
  while (m !== end - start) {
    const k = splitPoint(end - start)
    if (m <= k) {
      proof.push(await subtreeRoot(start + k, end, read))
      end = start + k
    } else {
      proof.push(await subtreeRoot(start, start + k, read))
      start += k
      m -= k
      complete = false
    }
  }
  if (!complete) proof.push(await subtreeRoot(start, end, read))
  return proof.reverse()
}

/** RFC 9162 §2.1.3.2. False for a bad proof, a wrong-length hash or an out-of-range index. */
export function verifyInclusion(leafIndex: number, treeSize: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!isCount(leafIndex) || !isCount(treeSize) || leafIndex >= treeSize) return false
  if (!isHash(leaf) || !isHash(root) || !Array.isArray(proof) || !proof.every(isHash)) return false
  let fn = leafIndex
  let sn = treeSize - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2)
        sn = Math.floor(sn / 2)
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && bytesEqual(r, root)
}

/** RFC 9162 §2.1.4.2, plus the cases outside its precondition 0 < size1 < size2, decided as
 * transparency-dev/merkle does: size1 = size2 needs an empty proof and equal roots (compared as
 * given, like upstream, so all 196 upstream fixtures agree); size1 = 0 is rejected (a proof from
 * the empty tree proves nothing); size1 > size2 is rejected. Otherwise every hash, the roots
 * included, must be 32 bytes. */
export function verifyConsistency(size1: number, size2: number, root1: Uint8Array, root2: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!isCount(size1) || !isCount(size2) || size1 === 0 || size1 > size2) return false
  if (!(root1 instanceof Uint8Array) || !(root2 instanceof Uint8Array) || !Array.isArray(proof)) return false
  if (size1 === size2) return proof.length === 0 && bytesEqual(root1, root2)
  if (!isHash(root1) || !isHash(root2) || !proof.every(isHash)) return false
  if (proof.length === 0) return false
  const path = highestPower(size1).size === size1 ? [root1, ...proof] : proof // step 2
  let fn = size1 - 1
  let sn = size2 - 1
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  let fr = path[0] as Uint8Array
  let sr = fr
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Uint8Array
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2)
        sn = Math.floor(sn / 2)
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && bytesEqual(fr, root1) && bytesEqual(sr, root2)
}
