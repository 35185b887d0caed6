// The vote write-ahead log (DESIGN.md §4 "persist before sending"): every own vote is appended
// and fdatasync'ed before it may leave the node, and replayed on start, so a restart can never
// turn into an equivocation. Record = u32be length || CBOR vote || first 4 bytes of SHA-256 of
// the CBOR. A torn last record (kill -9 mid-write) is detected on load and cut off; a damaged
// record before the end means the disk lies, and the node refuses to start.
//
// Beside it, `<wal>.cosigned` holds the last checkpoint tree the node cosigned (size and root),
// written before the cosignature leaves: CBOR {size, root} || first 4 bytes of its SHA-256,
// replaced whole (temporary file, sync, rename, sync of the directory), so it is never torn.

import { open, type FileHandle } from 'node:fs/promises'
import { openSync, closeSync, write, constants } from 'node:fs'
import { writeDurable } from '../fsync.ts'
import { basename, dirname } from 'node:path'
import { createHash } from 'node:crypto'
import { TrothError } from '../errors.ts'
import { asBytes, asMap, asUint, decode, encode } from '../ledger/encoding.ts'
import { voteFromCbor, voteToCbor, type Vote } from '../ledger/consensus/messages.ts'
import type { CosignedTree, Wal } from './replica.ts'

const RECORD_BYTES_MAX = 4096
const COSIGNED_BYTES_MAX = 128
const WAL_BYTES_MAX = 64 * 1024 * 1024
/** prune() rewrites the file only once it holds this many votes of earlier epochs (about 550 kB):
 * a rewrite is three syncs, and doing it at every epoch's start delayed that epoch's first
 * views (at 16 nodes in one process, by up to 300 ms). Old votes are harmless meanwhile: load()
 * returns them and the engine ignores other epochs' votes. */
export const WAL_PRUNE_MIN_OLD_VOTES = 4096

function check4(body: Uint8Array): Buffer {
  return createHash('sha256').update(body).digest().subarray(0, 4)
}

function record(v: Vote): Buffer {
  const body = encode(voteToCbor(v))
  const head = Buffer.alloc(4)
  head.writeUInt32BE(body.length)
  return Buffer.concat([head, body, check4(body)])
}

function writeAt(fd: number, bytes: Buffer, off: number): Promise<number> {
  return new Promise((resolve, reject) => {
    write(fd, bytes, off, bytes.length - off, null, (err, n) => (err !== null ? reject(err) : resolve(n)))
  })
}

export class FileWal implements Wal {
  private readonly path: string
  private fh: FileHandle | null = null
  /** Append descriptor opened O_DSYNC: one write() returns only once the record is durable. */
  private fd: number | null = null
  private votes: Vote[] = []
  /** The last append in flight: appends run one after another, so records never interleave. */
  private tail: Promise<void> = Promise.resolve()

  constructor(path: string) {
    this.path = path
  }

  /** Read every complete record; cut off a torn tail. */
  async load(): Promise<Vote[]> {
    const fh = await open(this.path, 'a+', 0o600)
    try {
      return await this.loadFrom(fh)
    } catch (err) {
      await fh.close()
      throw err
    }
  }

  private async loadFrom(fh: FileHandle): Promise<Vote[]> {
    const { size } = await fh.stat()
    if (size > WAL_BYTES_MAX) throw new TrothError('store.corrupt', `vote WAL ${this.path} is ${size} bytes, over ${WAL_BYTES_MAX}`)
    const buf = Buffer.alloc(size)
    await fh.read(buf, 0, size, 0)
    const votes: Vote[] = []
    let off = 0
    let torn = false
    while (off < size) {
      if (off + 4 > size) { torn = true; break }
      const len = buf.readUInt32BE(off)
      if (len > RECORD_BYTES_MAX) throw new TrothError('store.corrupt', `vote WAL ${this.path}: record at ${off} claims ${len} bytes`)
      if (off + 4 + len + 4 > size) { torn = true; break }
      const body = buf.subarray(off + 4, off + 4 + len)
      if (!check4(body).equals(buf.subarray(off + 4 + len, off + 8 + len))) {
        // Only the last record may be damaged (a torn write); anything earlier is corruption.
        if (off + 8 + len === size) { torn = true; break }
        throw new TrothError('store.corrupt', `vote WAL ${this.path}: record at ${off} is damaged`)
      }
      votes.push(voteFromCbor(decode(body, { bytesMax: RECORD_BYTES_MAX })))
      off += 8 + len
    }
    if (torn) {
      await fh.truncate(off)
      await fh.datasync()
    }
    await this.fh?.close() // a second load() replaces the first one's handle
    this.fh = fh
    this.openAppend()
    this.votes = votes
    return [...votes]
  }

  private openAppend(): void {
    if (this.fd !== null) closeSync(this.fd)
    this.fd = openSync(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_DSYNC, 0o600)
  }

  /**
   * Durable when the promise resolves: one write() on the O_DSYNC descriptor (no separate
   * fdatasync, which queued behind other I/O in the thread pool and cost several milliseconds).
   * The write runs in libuv's thread pool rather than blocking the event loop: the node goes on
   * checking incoming votes meanwhile (the caller still sends nothing before it resolves), and
   * nodes sharing a process (tests, bench/consensus.ts) no longer wait for each other's disk:
   * 16 appends at once took 1.8 ms against 6.4 ms one after another (docs/performance.md).
   */
  append(v: Vote): Promise<void> {
    const next = this.tail.then(async () => {
      if (this.fd === null) await this.load()
      const bytes = record(v)
      let off = 0
      while (off < bytes.length) off += await writeAt(this.fd as number, bytes, off)
      this.votes.push(v)
    })
    this.tail = next.catch(() => undefined)
    return next
  }

  /** Keep only votes of `epoch` and later: write a new file, sync it, rename it into place; once
   * at least WAL_PRUNE_MIN_OLD_VOTES earlier ones have piled up (or `force`). */
  async prune(epoch: number, force = false): Promise<void> {
    await this.tail
    if (this.fh === null) await this.load()
    const keep = this.votes.filter((x) => x.epoch >= epoch)
    const old = this.votes.length - keep.length
    if (old === 0 || (!force && old < WAL_PRUNE_MIN_OLD_VOTES)) return
    await writeDurable(dirname(this.path), basename(this.path), Buffer.concat(keep.map(record)))
    await (this.fh as FileHandle).close()
    this.fh = await open(this.path, 'a+', 0o600)
    this.openAppend()
    this.votes = keep
  }

  async cosigned(): Promise<CosignedTree | null> {
    const path = `${this.path}.cosigned`
    let fh: FileHandle
    try {
      fh = await open(path, 'r')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw err
    }
    try {
      const { size } = await fh.stat()
      if (size > COSIGNED_BYTES_MAX || size < 5) throw new TrothError('store.corrupt', `${path} is ${size} bytes, not a cosigned tree`)
      const buf = Buffer.alloc(size)
      await fh.read(buf, 0, size, 0)
      const body = buf.subarray(0, size - 4)
      if (!check4(body).equals(buf.subarray(size - 4))) throw new TrothError('store.corrupt', `${path} is damaged`)
      try {
        const m = asMap(decode(body, { bytesMax: COSIGNED_BYTES_MAX }), 'cosigned', ['size', 'root'])
        return { size: asUint(m.size, 'cosigned.size'), root: asBytes(m.root, 'cosigned.root', 32) }
      } catch (err) {
        throw new TrothError('store.corrupt', `${path}: ${(err as Error).message}`)
      }
    } finally {
      await fh.close()
    }
  }

  async saveCosigned(tree: CosignedTree): Promise<void> {
    const path = `${this.path}.cosigned`
    const body = encode({ size: tree.size, root: tree.root })
    await writeDurable(dirname(path), basename(path), Buffer.concat([body, check4(body)]))
  }

  async close(): Promise<void> {
    await this.tail
    if (this.fd !== null) closeSync(this.fd)
    this.fd = null
    await this.fh?.close()
    this.fh = null
  }
}
