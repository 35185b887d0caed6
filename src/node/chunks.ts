// The on-disk store of snapshot chunks (DESIGN.md §5.3): what a submitter serves and a replica
// fetches, keeps and answers audits from. Layout under its directory (DATA/chunks):
//   <rootHex>/meta     canonical CBOR { size, chunks, leaves: 32·chunks bytes, complete }
//   <rootHex>/<index>  chunk `index`, decimal, one file each
// Every write is durable (temp file, fsync, rename, fsync of the directory); meta is written
// before any chunk, so a root without meta is debris and is not listed. Roots and indexes come
// from peers: they are checked before they touch a path. One process owns the directory.

import { mkdir, open, readFile, readdir, rm, stat, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { TrothError, assert } from '../errors.ts'
import { asBool, asBytes, asMap, asUint, decode, encode } from '../ledger/encoding.ts'
import { HASH_BYTES, bytesEqual, fromHex } from '../ledger/hash.ts'
import { CHUNK_BYTES, SNAPSHOT_BYTES_MAX } from '../ledger/limits.ts'
import { inclusionProof, leafHash, nodeHash, rootOf } from '../ledger/merkle.ts'
import { syncDir, writeDurable } from '../fsync.ts'

/** Chunks one stored snapshot may have: 2^22 chunks of 256 KiB = 1 TiB, a 128 MiB meta file.
 * Below SNAPSHOT_CHUNKS_MAX because the leaves are held in memory whole. */
export const STORED_CHUNKS_MAX = 2 ** 22
const META_BYTES_MAX = 64 + STORED_CHUNKS_MAX * HASH_BYTES
/** Roots whose leaves and tree levels are kept in memory, and the bytes they may take. */
const CACHE_ROOTS_MAX = 8
const CACHE_BYTES_MAX = 256 * 1024 * 1024

const ROOT_HEX = /^[0-9a-f]{64}$/
const INDEX_NAME = /^(0|[1-9][0-9]*)$/

export interface ChunkInfo {
  readonly size: number
  readonly chunks: number
  readonly leaves: Uint8Array[]
  readonly complete: boolean
}

interface Meta {
  readonly size: number
  readonly chunks: number
  /** Concatenated leaf hashes. */
  readonly leaves: Uint8Array
  readonly complete: boolean
}

interface Cached {
  meta: Meta
  /** levels[k] = the perfect nodes of height k, concatenated; built on the first proof. */
  levels: Uint8Array[] | null
}

function checkRootHex(rootHex: string): void {
  if (typeof rootHex !== 'string' || !ROOT_HEX.test(rootHex)) {
    throw new TrothError('input.invalid', `snapshot root ${JSON.stringify(String(rootHex).slice(0, 80))} is not 64 lowercase hex characters`)
  }
}

function checkIndex(meta: Meta, index: number): void {
  if (!Number.isSafeInteger(index) || index < 0 || index >= meta.chunks) {
    throw new TrothError('input.invalid', `chunk index ${String(index)} is outside [0, ${meta.chunks})`)
  }
}

/** Length chunk `index` must have: only the last may be short. */
function chunkBytes(meta: Meta, index: number): number {
  return index < meta.chunks - 1 ? CHUNK_BYTES : meta.size - (meta.chunks - 1) * CHUNK_BYTES
}

function leafAt(leaves: Uint8Array, index: number): Uint8Array {
  return leaves.subarray(index * HASH_BYTES, (index + 1) * HASH_BYTES)
}

function splitLeaves(leaves: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i * HASH_BYTES < leaves.length; i++) out.push(leafAt(leaves, i))
  return out
}

/** The shape rules shared by begin() (caller's input) and load (the disk's). Returns a problem. */
function metaProblem(size: number, chunks: number, leafBytes: number): string | null {
  if (!Number.isSafeInteger(chunks) || chunks < 1) return `chunk count ${chunks} is not a positive integer`
  if (chunks > STORED_CHUNKS_MAX) return `${chunks} chunks is over the store's limit of ${STORED_CHUNKS_MAX}`
  if (leafBytes !== chunks * HASH_BYTES) return `${leafBytes / HASH_BYTES} leaf hashes for ${chunks} chunks`
  if (!Number.isSafeInteger(size) || size > SNAPSHOT_BYTES_MAX || size <= (chunks - 1) * CHUNK_BYTES || size > chunks * CHUNK_BYTES) {
    return `${size} bytes do not fit in ${chunks} chunks of ${CHUNK_BYTES}`
  }
  return null
}

function encodeMeta(m: Meta): Uint8Array {
  return encode({ size: m.size, chunks: m.chunks, leaves: m.leaves, complete: m.complete })
}

/** Perfect-node levels over the leaves: level k holds ⌊n / 2^k⌋ nodes (RFC 9162 §2.1.1's
 * subtrees at aligned offsets), which is all inclusionProof reads. */
function buildLevels(leaves: Uint8Array): Uint8Array[] {
  const levels = [leaves]
  for (let below = leaves; below.length >= 2 * HASH_BYTES; ) {
    const count = Math.floor(below.length / HASH_BYTES / 2)
    const level = new Uint8Array(count * HASH_BYTES)
    for (let i = 0; i < count; i++) level.set(nodeHash(leafAt(below, 2 * i), leafAt(below, 2 * i + 1)), i * HASH_BYTES)
    levels.push(level)
    below = level
  }
  return levels
}

function cachedBytes(c: Cached): number {
  return c.meta.leaves.length + (c.levels?.reduce((sum, l) => sum + l.length, 0) ?? 0)
}

export class ChunkStore {
  readonly #dir: string
  /** LRU by insertion order: a hit is moved to the end. */
  readonly #cache = new Map<string, Cached>()

  private constructor(dir: string) {
    this.#dir = dir
  }

  static async open(dir: string): Promise<ChunkStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    if (!(await stat(dir)).isDirectory()) throw new TrothError('input.invalid', `chunk store ${dir} is not a directory`)
    return new ChunkStore(dir)
  }

  /** Records a snapshot to be filled, as not complete. The leaves must give the root and fit
   * the size; chunk files already present stay (the same root means the same leaves). */
  async begin(rootHex: string, size: number, chunks: number, leaves: readonly Uint8Array[]): Promise<void> {
    checkRootHex(rootHex)
    if (!Array.isArray(leaves) || leaves.length !== chunks || !leaves.every((l) => l instanceof Uint8Array && l.length === HASH_BYTES)) {
      throw new TrothError('input.invalid', `snapshot ${rootHex}: expected ${chunks} leaf hashes of ${HASH_BYTES} bytes`)
    }
    const problem = metaProblem(size, chunks, leaves.length * HASH_BYTES)
    if (problem !== null) throw new TrothError(chunks > STORED_CHUNKS_MAX ? 'input.too-large' : 'input.invalid', `snapshot ${rootHex}: ${problem}`)
    if (!bytesEqual(rootOf(leaves), fromHex(rootHex))) throw new TrothError('input.invalid', `snapshot ${rootHex}: the leaves do not hash to this root`)
    const all = new Uint8Array(chunks * HASH_BYTES)
    leaves.forEach((l, i) => all.set(l, i * HASH_BYTES))
    const meta: Meta = { size, chunks, leaves: all, complete: false }
    const dir = join(this.#dir, rootHex)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await syncDir(this.#dir)
    await writeDurable(dir, 'meta', encodeMeta(meta))
    this.#remember(rootHex, { meta, levels: null })
  }

  /** Stores chunk `index` after checking it against its leaf and its expected length. */
  async put(rootHex: string, index: number, bytes: Uint8Array): Promise<void> {
    const meta = await this.#known(rootHex)
    checkIndex(meta, index)
    assert(bytes instanceof Uint8Array, 'ChunkStore.put: bytes must be a Uint8Array')
    const want = chunkBytes(meta, index)
    if (bytes.length !== want) throw new TrothError('input.invalid', `chunk ${index} of ${rootHex} is ${bytes.length} bytes; it must be ${want}`)
    if (!bytesEqual(leafHash(bytes), leafAt(meta.leaves, index))) throw new TrothError('input.invalid', `chunk ${index} does not match its leaf in ${rootHex}`)
    await writeDurable(join(this.#dir, rootHex), String(index), bytes)
  }

  /** The bytes on disk for chunk `index`, unverified (an audit answer signs what is stored);
   * null if the chunk or the whole root is missing. */
  async get(rootHex: string, index: number): Promise<Uint8Array | null> {
    const meta = await this.#load(rootHex)
    if (meta === null) return null
    checkIndex(meta, index)
    let fh: FileHandle
    try {
      fh = await open(join(this.#dir, rootHex, String(index)), 'r')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw err
    }
    try {
      const { size } = await fh.stat()
      // A chunk is never larger; reading a damaged file whole could exhaust memory.
      if (size > CHUNK_BYTES) throw new TrothError('store.corrupt', `chunk ${index} of ${rootHex} is ${size} bytes on disk, over ${CHUNK_BYTES}`)
      const out = new Uint8Array(size)
      for (let at = 0; at < size; ) {
        const { bytesRead } = await fh.read(out, at, size - at, at)
        if (bytesRead === 0) return out.slice(0, at) // shrank under us: what is there is the answer
        at += bytesRead
      }
      return out
    } finally {
      await fh.close()
    }
  }

  /** Indexes with no chunk file, ascending. */
  async missing(rootHex: string): Promise<number[]> {
    const meta = await this.#known(rootHex)
    const have = new Uint8Array(meta.chunks)
    for (const name of await readdir(join(this.#dir, rootHex))) {
      if (!INDEX_NAME.test(name)) continue
      const i = Number(name)
      if (i < meta.chunks) have[i] = 1
    }
    const out: number[] = []
    for (let i = 0; i < meta.chunks; i++) if (have[i] === 0) out.push(i)
    return out
  }

  /** Marks a snapshot whose every chunk is stored as complete. */
  async markComplete(rootHex: string): Promise<void> {
    const meta = await this.#known(rootHex)
    const missing = await this.missing(rootHex)
    if (missing.length > 0) {
      throw new TrothError('input.invalid', `snapshot ${rootHex} still misses ${missing.length} chunks (first: ${missing.slice(0, 8).join(', ')})`)
    }
    if (meta.complete) return
    const done: Meta = { ...meta, complete: true }
    await writeDurable(join(this.#dir, rootHex), 'meta', encodeMeta(done))
    this.#remember(rootHex, { meta: done, levels: this.#cache.get(rootHex)?.levels ?? null })
  }

  async info(rootHex: string): Promise<ChunkInfo | null> {
    const meta = await this.#load(rootHex)
    if (meta === null) return null
    return { size: meta.size, chunks: meta.chunks, leaves: splitLeaves(meta.leaves.slice()), complete: meta.complete }
  }

  /** Root hexes that have a meta file, sorted. */
  async list(): Promise<string[]> {
    const roots: string[] = []
    for (const name of await readdir(this.#dir)) {
      if (!ROOT_HEX.test(name)) continue
      try {
        await stat(join(this.#dir, name, 'meta'))
        roots.push(name)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
    }
    return roots.sort()
  }

  /** Deletes a snapshot; meta goes first so a crash midway leaves debris, not a bad root. */
  async remove(rootHex: string): Promise<void> {
    checkRootHex(rootHex)
    this.#cache.delete(rootHex)
    const dir = join(this.#dir, rootHex)
    await rm(join(dir, 'meta'), { force: true })
    await rm(dir, { recursive: true, force: true })
    await syncDir(this.#dir)
  }

  /** RFC 9162 §2.1.3.1 inclusion proof of leaf `index` in the snapshot's tree of `chunks` leaves. */
  async proof(rootHex: string, index: number): Promise<Uint8Array[]> {
    const meta = await this.#known(rootHex)
    checkIndex(meta, index)
    // Another call may have evicted or replaced the entry while this one awaited.
    const hit = this.#cache.get(rootHex)
    const entry: Cached = hit !== undefined && hit.meta === meta ? hit : { meta, levels: null }
    entry.levels ??= buildLevels(meta.leaves)
    const levels = entry.levels
    this.#remember(rootHex, entry) // re-account its bytes now that the levels exist
    const path = await inclusionProof(index, meta.chunks, (level, i) => {
      const nodes = levels[level]
      assert(nodes !== undefined && (i + 1) * HASH_BYTES <= nodes.length, `ChunkStore.proof: no node (${level}, ${i})`)
      return leafAt(nodes, i)
    })
    return path.map((h) => h.slice()) // never hand out views of the cache
  }

  /** Meta of a root we must have: refuses an unknown one. */
  async #known(rootHex: string): Promise<Meta> {
    const meta = await this.#load(rootHex)
    if (meta === null) throw new TrothError('input.not-found', `no snapshot ${rootHex} in the chunk store`)
    return meta
  }

  /** Meta from the cache or the disk, checked against the root it is filed under. */
  async #load(rootHex: string): Promise<Meta | null> {
    checkRootHex(rootHex)
    const hit = this.#cache.get(rootHex)
    if (hit !== undefined) {
      this.#remember(rootHex, hit)
      return hit.meta
    }
    const path = join(this.#dir, rootHex, 'meta')
    let bytes: Uint8Array
    try {
      const fh = await open(path, 'r')
      try {
        const { size } = await fh.stat()
        if (size > META_BYTES_MAX) throw new TrothError('store.corrupt', `${path} is ${size} bytes, over ${META_BYTES_MAX}`)
        bytes = new Uint8Array(await readFile(fh))
      } finally {
        await fh.close()
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw err
    }
    let meta: Meta
    try {
      const m = asMap(decode(bytes, { bytesMax: META_BYTES_MAX, depthMax: 1, itemsMax: 9 }), 'meta', ['size', 'chunks', 'leaves', 'complete'])
      meta = { size: asUint(m.size, 'meta.size'), chunks: asUint(m.chunks, 'meta.chunks'), leaves: asBytes(m.leaves, 'meta.leaves'), complete: asBool(m.complete, 'meta.complete') }
    } catch (err) {
      if (!(err instanceof TrothError)) throw err
      throw new TrothError('store.corrupt', `${path}: ${err.message}`, { cause: err })
    }
    const problem = metaProblem(meta.size, meta.chunks, meta.leaves.length)
    if (problem !== null) throw new TrothError('store.corrupt', `${path}: ${problem}`)
    if (!bytesEqual(rootOf(splitLeaves(meta.leaves)), fromHex(rootHex))) throw new TrothError('store.corrupt', `${path}: the leaves do not hash to ${rootHex}`)
    this.#remember(rootHex, { meta, levels: null })
    return meta
  }

  /** Puts an entry at the LRU's young end and evicts old ones past the count or byte budget
   * (never the entry just used, so one oversized tree still serves its caller). */
  #remember(rootHex: string, entry: Cached): void {
    this.#cache.delete(rootHex)
    this.#cache.set(rootHex, entry)
    let bytes = 0
    for (const c of this.#cache.values()) bytes += cachedBytes(c)
    for (const [key, c] of this.#cache) {
      if (this.#cache.size <= 1 || (this.#cache.size <= CACHE_ROOTS_MAX && bytes <= CACHE_BYTES_MAX)) break
      this.#cache.delete(key)
      bytes -= cachedBytes(c)
    }
  }
}
