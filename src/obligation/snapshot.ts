// The snapshot byte stream (DESIGN.md §5.3): what `troth seal PATH` hashes and what replicas
// store. One stream, cut into CHUNK_BYTES chunks (the last one shorter, none empty); leaf i is
// leafHash(chunk i) and the sealed root is the RFC 9162 §2.1.1 root over the leaves.
//
// A file's stream is its bytes. A directory's stream is an archive:
//   u64be L || manifest (L bytes of canonical CBOR) || each file's bytes, in manifest order
//   manifest = { dirs: [path...], files: [{ path, size, exec }...] }
// Paths are relative POSIX UTF-8, each list sorted bytewise; `dirs` names every directory but the
// root, empty ones included. Nothing else (links, devices, sockets...) has a place in it.
// Unpacking treats the stream as hostile: a replica's chunks are verified against the root, but
// the root is whatever the submitter sealed.

import { lstat, mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { constants, type Stats } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { basename, dirname, join, resolve, sep } from 'node:path'
import { TrothError, assert } from '../errors.ts'
import { asArray, asBool, asMap, asText, asUint, decode, encode, type CborValue } from '../ledger/encoding.ts'
import { compareBytes } from '../ledger/hash.ts'
import { CHUNK_BYTES, NAME_BYTES_MAX, SNAPSHOT_BYTES_MAX } from '../ledger/limits.ts'
import { leafHash, rootOf } from '../ledger/merkle.ts'
import { nameProblem } from '../ledger/names.ts'
import { syncDir } from '../fsync.ts'

/** The archive's u64be manifest length. */
export const ARCHIVE_HEADER_BYTES = 8
export const MANIFEST_BYTES_MAX = 16 * 1024 * 1024
export const MANIFEST_FILES_MAX = 100_000
export const MANIFEST_DIRS_MAX = 100_000
export const PATH_BYTES_MAX = 4096
/** Items a manifest at its limits can hold: the top map (1 + 2 keys + 2 arrays), one per dir,
 * seven per file (a map of three keys and three values). */
const MANIFEST_ITEMS_MAX = 5 + MANIFEST_DIRS_MAX + 7 * MANIFEST_FILES_MAX

export type SnapshotKind = 'file' | 'dir'

export interface ManifestFile {
  readonly path: string
  readonly size: number
  readonly exec: boolean
}

export interface Manifest {
  readonly dirs: readonly string[]
  readonly files: readonly ManifestFile[]
}

export interface SnapshotInfo {
  readonly kind: SnapshotKind
  /** The sealed name: the path's basename, '/'-terminated for a directory. */
  readonly name: string
  /** Bytes in the stream (for a directory: header + manifest + contents). */
  readonly size: number
  readonly chunks: number
  readonly leaves: Uint8Array[]
  readonly root: Uint8Array
}

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

// ---------------------------------------------------------------------------------------------
// Chunks and leaves

/** Leaf hashes of an in-memory stream. Empty input is refused: there is nothing to seal. */
export function chunkLeaves(bytes: Uint8Array): Uint8Array[] {
  if (bytes.length === 0) throw new TrothError('input.invalid', 'nothing to seal: the snapshot is 0 bytes')
  const leaves: Uint8Array[] = []
  for (let at = 0; at < bytes.length; at += CHUNK_BYTES) leaves.push(leafHash(bytes.subarray(at, at + CHUNK_BYTES)))
  return leaves
}

/** Cuts a stream into chunks as it is filled. Callers read straight into `room`, so a file's
 * bytes are copied once; every chunk handed out is a buffer of its own. */
class Cutter {
  #buf = new Uint8Array(CHUNK_BYTES)
  #fill = 0

  get room(): Uint8Array {
    return this.#buf.subarray(this.#fill)
  }

  /** Records n bytes written into `room`; returns the chunk they complete, if any. */
  advance(n: number): Uint8Array | null {
    this.#fill += n
    assert(this.#fill <= CHUNK_BYTES, 'Cutter: overfilled a chunk')
    if (this.#fill < CHUNK_BYTES) return null
    const full = this.#buf
    this.#buf = new Uint8Array(CHUNK_BYTES)
    this.#fill = 0
    return full
  }

  *push(bytes: Uint8Array): Generator<Uint8Array> {
    for (let at = 0; at < bytes.length; ) {
      const n = Math.min(this.room.length, bytes.length - at)
      this.room.set(bytes.subarray(at, at + n))
      at += n
      const full = this.advance(n)
      if (full !== null) yield full
    }
  }

  /** The short last chunk, trimmed to its length; null if the stream ended on a boundary. */
  rest(): Uint8Array | null {
    return this.#fill > 0 ? this.#buf.slice(0, this.#fill) : null
  }
}

/** Reads `fh` into the cutter until `bytesMax` bytes or end of file, yielding each chunk it
 * completes; returns the bytes read. */
async function* readInto(fh: FileHandle, cut: Cutter, bytesMax: number): AsyncGenerator<Uint8Array, number> {
  let read = 0
  while (read < bytesMax) {
    const room = cut.room
    const { bytesRead } = await fh.read(room, 0, Math.min(room.length, bytesMax - read), read)
    if (bytesRead === 0) break
    read += bytesRead
    const full = cut.advance(bytesRead)
    if (full !== null) yield full
  }
  return read
}

// ---------------------------------------------------------------------------------------------
// Reading a snapshot from disk

function ioError(err: unknown, path: string, doing: string): TrothError {
  if (err instanceof TrothError) return err
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return new TrothError('input.not-found', `${path} does not exist`, { cause: err })
  return new TrothError('input.invalid', `cannot ${doing} ${path}: ${code ?? String(err)}`, { cause: err })
}

/** What a snapshot of this path would be; the path itself may be a symlink (the user named it). */
async function kindOf(path: string): Promise<SnapshotKind> {
  let st: Stats
  try {
    st = await stat(path)
  } catch (err) {
    throw ioError(err, path, 'read')
  }
  if (st.isFile()) return 'file'
  if (st.isDirectory()) return 'dir'
  throw new TrothError('input.invalid', `${path} is neither a regular file nor a directory`)
}

/** The sealed name: the basename, control and bidi characters replaced (names reach terminals,
 * see ledger/names.ts), trimmed to NAME_BYTES_MAX at a code point, '/' appended for a directory. */
export function snapshotName(path: string, kind: SnapshotKind): string {
  const suffix = kind === 'dir' ? '/' : ''
  const budget = NAME_BYTES_MAX - suffix.length
  let name = ''
  let bytes = 0
  for (const ch of basename(resolve(path))) {
    const safe = nameProblem(ch) === null ? ch : '_'
    const n = utf8.encode(safe).length
    if (bytes + n > budget) break
    name += safe
    bytes += n
  }
  return name + suffix
}

/** Why a manifest path breaks the rules, or null if it keeps them. */
export function pathProblem(path: string): string | null {
  if (path === '') return 'is empty'
  if (utf8.encode(path).length > PATH_BYTES_MAX) return `is longer than ${PATH_BYTES_MAX} bytes`
  if (path.startsWith('/')) return 'is absolute'
  if (path.includes('\0')) return 'contains NUL'
  if (path.includes('\\')) return 'contains a backslash'
  for (const part of path.split('/')) {
    if (part === '') return 'has an empty component'
    if (part === '.' || part === '..') return `has a "${part}" component`
  }
  return null
}

/** The manifest's own rules, for one we built and one a peer sent alike. Sizes are checked
 * against the stream by the caller. */
function checkManifest(m: Manifest): void {
  const fail = (message: string): never => {
    throw new TrothError('input.invalid', `archive manifest: ${message}`)
  }
  if (m.files.length > MANIFEST_FILES_MAX) fail(`${m.files.length} files, over the limit of ${MANIFEST_FILES_MAX}`)
  if (m.dirs.length > MANIFEST_DIRS_MAX) fail(`${m.dirs.length} directories, over the limit of ${MANIFEST_DIRS_MAX}`)
  const dirs = new Set<string>()
  const checkList = (paths: readonly string[], what: string): void => {
    let prev: Uint8Array | null = null
    for (const path of paths) {
      const problem = pathProblem(path)
      if (problem !== null) fail(`${what} path ${JSON.stringify(path)} ${problem}`)
      const bytes = utf8.encode(path)
      if (prev !== null) {
        const order = compareBytes(prev, bytes)
        if (order === 0) fail(`${what} path ${JSON.stringify(path)} is listed twice`)
        if (order > 0) fail(`${what} path ${JSON.stringify(path)} is out of bytewise order`)
      }
      prev = bytes
      // Bytewise order puts a path after its parent (a prefix), so the parent is already known.
      const cut = path.lastIndexOf('/')
      if (cut > 0 && !dirs.has(path.slice(0, cut))) {
        fail(`${what} path ${JSON.stringify(path)} is not inside a listed directory`)
      }
      if (what === 'directory') dirs.add(path)
      else if (dirs.has(path)) fail(`${JSON.stringify(path)} is both a directory and a file`)
    }
  }
  checkList(m.dirs, 'directory')
  checkList(m.files.map((f) => f.path), 'file')
}

/** Walks a directory without following links; refuses anything but files and directories. */
async function walk(root: string): Promise<{ manifest: Manifest; abs: string[] }> {
  const dirs: string[] = []
  const files: { path: string; size: number; exec: boolean; abs: string }[] = []
  const pending: string[] = [''] // relative paths of directories still to list
  while (pending.length > 0) {
    const rel = pending.pop() as string
    const absDir = rel === '' ? root : join(root, rel)
    let names: Buffer[]
    try {
      names = await readdir(absDir, { encoding: 'buffer' })
    } catch (err) {
      throw ioError(err, absDir, 'list')
    }
    for (const raw of names) {
      const abs = join(absDir, raw.toString())
      let name: string
      try {
        name = strictUtf8.decode(raw)
      } catch {
        throw new TrothError('input.invalid', `${abs}: the name is not valid UTF-8`)
      }
      const path = rel === '' ? name : `${rel}/${name}`
      const problem = pathProblem(path)
      if (problem !== null) throw new TrothError('input.invalid', `${abs}: the path ${problem}`)
      let st: Stats
      try {
        st = await lstat(abs)
      } catch (err) {
        throw ioError(err, abs, 'read')
      }
      if (st.isDirectory()) {
        dirs.push(path)
        pending.push(path)
      } else if (st.isFile()) {
        // The owner's execute bit is the one that travels.
        files.push({ path, size: st.size, exec: (st.mode & 0o100) !== 0, abs })
      } else {
        const what = st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file or directory'
        throw new TrothError('input.invalid', `${abs} is ${what}; a snapshot holds only files and directories`)
      }
      if (files.length > MANIFEST_FILES_MAX) throw new TrothError('input.too-large', `${root} holds more than ${MANIFEST_FILES_MAX} files`)
      if (dirs.length > MANIFEST_DIRS_MAX) throw new TrothError('input.too-large', `${root} holds more than ${MANIFEST_DIRS_MAX} directories`)
    }
  }
  const order = (a: string, b: string): number => compareBytes(utf8.encode(a), utf8.encode(b))
  dirs.sort(order)
  files.sort((a, b) => order(a.path, b.path))
  const manifest: Manifest = { dirs, files: files.map(({ path, size, exec }) => ({ path, size, exec })) }
  checkManifest(manifest) // our own walk must keep the rules a reader will enforce
  return { manifest, abs: files.map((f) => f.abs) }
}

function encodeManifest(m: Manifest): Uint8Array {
  return encode({ dirs: [...m.dirs], files: m.files.map((f) => ({ path: f.path, size: f.size, exec: f.exec })) })
}

/** Opens a file to read; `follow` only for the path the user named, never inside a tree. */
async function openRegular(path: string, follow: boolean): Promise<FileHandle> {
  try {
    // O_NOFOLLOW: a file swapped for a link after the walk is refused, not followed.
    const fh = await open(path, constants.O_RDONLY | (follow ? 0 : constants.O_NOFOLLOW))
    if (!(await fh.stat()).isFile()) {
      await fh.close()
      throw new TrothError('input.invalid', `${path} is not a regular file`)
    }
    return fh
  } catch (err) {
    throw ioError(err, path, 'open')
  }
}

/**
 * The chunks of the snapshot at `path`, read CHUNK_BYTES at a time. The same tree gives the
 * same bytes every time; a file that changes size mid-read is refused. A directory is walked
 * anew on each call, so a caller must check the chunks against the sealed leaves.
 */
export async function* snapshotChunks(path: string, kind: SnapshotKind): AsyncGenerator<Uint8Array> {
  const actual = await kindOf(path)
  if (actual !== kind) throw new TrothError('input.invalid', `${path} is a ${actual === 'dir' ? 'directory' : 'file'}, not a ${kind === 'dir' ? 'directory' : 'file'}`)
  const cut = new Cutter()
  let total = 0
  if (kind === 'file') {
    const fh = await openRegular(path, true)
    try {
      // One byte over the limit is enough to refuse.
      total = yield* readInto(fh, cut, SNAPSHOT_BYTES_MAX + 1)
    } finally {
      await fh.close()
    }
    if (total === 0) throw new TrothError('input.invalid', `nothing to seal: ${path} is empty`)
    if (total > SNAPSHOT_BYTES_MAX) throw new TrothError('input.too-large', `${path} is over the snapshot limit of ${SNAPSHOT_BYTES_MAX} bytes`)
  } else {
    const { manifest, abs } = await walk(path)
    const body = encodeManifest(manifest)
    if (body.length > MANIFEST_BYTES_MAX) throw new TrothError('input.too-large', `the manifest of ${path} is ${body.length} bytes, over ${MANIFEST_BYTES_MAX}`)
    total = ARCHIVE_HEADER_BYTES + body.length + manifest.files.reduce((sum, f) => sum + f.size, 0)
    if (total > SNAPSHOT_BYTES_MAX) throw new TrothError('input.too-large', `${path} is ${total} bytes as an archive, over the snapshot limit of ${SNAPSHOT_BYTES_MAX}`)
    const header = new Uint8Array(ARCHIVE_HEADER_BYTES)
    new DataView(header.buffer).setBigUint64(0, BigInt(body.length))
    yield* cut.push(header)
    yield* cut.push(body)
    for (const [i, file] of manifest.files.entries()) {
      const fh = await openRegular(abs[i] as string, false)
      try {
        const read = yield* readInto(fh, cut, file.size)
        // The manifest already promised this size; a shorter file would shift every later byte.
        if (read !== file.size || (await fh.stat()).size !== file.size) {
          throw new TrothError('input.invalid', `${abs[i] as string} changed size while it was being read`)
        }
      } finally {
        await fh.close()
      }
    }
  }
  const rest = cut.rest()
  if (rest !== null) yield rest
}

/** Everything a `seal` entry needs, computed in one streaming pass. */
export async function readSnapshot(path: string): Promise<SnapshotInfo> {
  const kind = await kindOf(path)
  const leaves: Uint8Array[] = []
  let size = 0
  for await (const chunk of snapshotChunks(path, kind)) {
    leaves.push(leafHash(chunk))
    size += chunk.length
  }
  assert(leaves.length > 0 && size > (leaves.length - 1) * CHUNK_BYTES && size <= leaves.length * CHUNK_BYTES, 'readSnapshot: chunks do not fit the size')
  return { kind, name: snapshotName(path, kind), size, chunks: leaves.length, leaves, root: rootOf(leaves) }
}

// ---------------------------------------------------------------------------------------------
// Unpacking a stream (hostile)

/** Hands out a chunk stream in pieces of at most n bytes, whatever its chunk boundaries. */
class Pieces {
  readonly #it: AsyncIterator<Uint8Array>
  #cur: Uint8Array = new Uint8Array(0)
  #done = false
  /** Bytes handed out so far. */
  taken = 0

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]()
  }

  /** Up to n bytes (n ≥ 1), or null at the end of the stream. */
  async next(n: number): Promise<Uint8Array | null> {
    while (this.#cur.length === 0) {
      if (this.#done) return null
      const r = await this.#it.next()
      if (r.done === true) this.#done = true
      else this.#cur = r.value
    }
    const out = this.#cur.subarray(0, n)
    this.#cur = this.#cur.subarray(out.length)
    this.taken += out.length
    return out
  }

  async exactly(n: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(n)
    for (let at = 0; at < n; ) {
      const piece = await this.next(n - at)
      if (piece === null) throw new TrothError('input.invalid', `the stream ends inside the ${what} (${at} of ${n} bytes)`)
      out.set(piece, at)
      at += piece.length
    }
    return out
  }

  /** Refuses anything left over: the stream must end exactly where its layout says. */
  async end(size: number): Promise<void> {
    if ((await this.next(1)) !== null) throw new TrothError('input.invalid', `the stream has bytes after its declared size of ${size}`)
  }
}

function parseManifest(bytes: Uint8Array): Manifest {
  let manifest: Manifest
  try {
    const m = asMap(decode(bytes, { bytesMax: MANIFEST_BYTES_MAX, depthMax: 3, itemsMax: MANIFEST_ITEMS_MAX }), 'manifest', ['dirs', 'files'])
    const dirs = asArray(m.dirs, 'manifest.dirs', MANIFEST_DIRS_MAX).map((d, i) => asText(d, `manifest.dirs[${i}]`, PATH_BYTES_MAX))
    const files = asArray(m.files, 'manifest.files', MANIFEST_FILES_MAX).map((v: CborValue, i): ManifestFile => {
      const p = `manifest.files[${i}]`
      const f = asMap(v, p, ['path', 'size', 'exec'])
      return { path: asText(f.path, `${p}.path`, PATH_BYTES_MAX), size: asUint(f.size, `${p}.size`, SNAPSHOT_BYTES_MAX), exec: asBool(f.exec, `${p}.exec`) }
    })
    manifest = { dirs, files }
  } catch (err) {
    if (!(err instanceof TrothError)) throw err
    throw new TrothError('input.invalid', `archive manifest: ${err.message}`, { cause: err })
  }
  checkManifest(manifest)
  return manifest
}

async function refuseExisting(out: string): Promise<void> {
  try {
    await lstat(out)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw ioError(err, out, 'check')
  }
  throw new TrothError('input.invalid', `${out} already exists; refusing to overwrite it`)
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length; ) {
    const { bytesWritten } = await fh.write(bytes, at, bytes.length - at)
    at += bytesWritten
  }
}

/**
 * Writes a snapshot stream to `out`, which must not exist. Everything goes into a staging entry
 * beside `out` that is fsynced and renamed into place only when the whole stream checked out,
 * so `out` is either complete or absent. A directory stream is hostile input: its manifest is
 * decoded strictly and re-checked, and its layout must account for exactly `size` bytes.
 */
export async function unpackSnapshot(isDir: boolean, chunks: AsyncIterable<Uint8Array>, out: string, size: number): Promise<void> {
  if (!Number.isSafeInteger(size) || size < 1 || size > SNAPSHOT_BYTES_MAX) throw new TrothError('input.invalid', `snapshot size ${size} is outside [1, ${SNAPSHOT_BYTES_MAX}]`)
  out = resolve(out)
  await refuseExisting(out)
  const parent = dirname(out)
  try {
    if (!(await stat(parent)).isDirectory()) throw new TrothError('input.invalid', `${parent} is not a directory`)
  } catch (err) {
    throw ioError(err, parent, 'use')
  }
  const stage = join(parent, `.troth-unpack-${randomBytes(8).toString('hex')}`)
  const src = new Pieces(chunks)
  try {
    if (isDir) await unpackArchive(src, stage, size)
    else await unpackFile(src, stage, size)
    await refuseExisting(out)
    await rename(stage, out)
    await syncDir(parent)
  } catch (err) {
    await rm(stage, { recursive: true, force: true })
    throw err
  }
}

async function unpackFile(src: Pieces, stage: string, size: number): Promise<void> {
  const fh = await open(stage, 'wx', 0o644)
  try {
    // Asking for one byte more than is left reveals an overlong stream without buffering it.
    for (;;) {
      const piece = await src.next(size - src.taken + 1)
      if (piece === null) break
      if (src.taken > size) throw new TrothError('input.invalid', `the stream has bytes after its declared size of ${size}`)
      await writeAll(fh, piece)
    }
    if (src.taken < size) throw new TrothError('input.invalid', `the stream ends after ${src.taken} of its declared ${size} bytes`)
    await fh.sync()
  } finally {
    await fh.close()
  }
}

function cannotCreate(path: string, err: unknown): TrothError {
  return new TrothError('input.invalid', `cannot create archive path ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
}

async function unpackArchive(src: Pieces, stage: string, size: number): Promise<void> {
  if (size < ARCHIVE_HEADER_BYTES) throw new TrothError('input.invalid', `a ${size}-byte stream is too short for an archive header`)
  const header = new DataView((await src.exactly(ARCHIVE_HEADER_BYTES, 'archive header')).buffer)
  const hi = header.getUint32(0)
  const length = header.getUint32(4)
  if (hi !== 0 || length > MANIFEST_BYTES_MAX) throw new TrothError('input.too-large', `the archive declares a manifest of ${hi * 2 ** 32 + length} bytes, over ${MANIFEST_BYTES_MAX}`)
  if (ARCHIVE_HEADER_BYTES + length > size) throw new TrothError('input.invalid', `the archive declares a ${length}-byte manifest, longer than the ${size}-byte stream`)
  const manifest = parseManifest(await src.exactly(length, 'archive manifest'))
  const total = manifest.files.reduce((sum, f) => sum + f.size, ARCHIVE_HEADER_BYTES + length)
  if (total !== size) throw new TrothError('input.invalid', `the archive's manifest accounts for ${total} bytes but the snapshot is ${size}`)

  // Belt and braces: the path rules already keep every entry inside the stage.
  const inside = (path: string): string => {
    const abs = resolve(stage, ...path.split('/'))
    if (!abs.startsWith(stage + sep)) throw new TrothError('input.invalid', `archive path ${JSON.stringify(path)} resolves outside the output directory`)
    return abs
  }
  await mkdir(stage, { mode: 0o755 })
  // Sorted bytewise, a parent comes before its children. mkdir and O_EXCL never follow or reuse
  // an existing entry, so a name that collides (say on a case-insensitive disk) is refused.
  for (const d of manifest.dirs) {
    try {
      await mkdir(inside(d), { mode: 0o755 })
    } catch (err) {
      throw err instanceof TrothError ? err : cannotCreate(d, err)
    }
  }
  for (const f of manifest.files) {
    let fh: FileHandle
    try {
      fh = await open(inside(f.path), 'wx', f.exec ? 0o755 : 0o644)
    } catch (err) {
      throw err instanceof TrothError ? err : cannotCreate(f.path, err)
    }
    try {
      for (let left = f.size; left > 0; ) {
        const piece = await src.next(left)
        if (piece === null) throw new TrothError('input.invalid', `the stream ends inside archive file ${JSON.stringify(f.path)}`)
        await writeAll(fh, piece)
        left -= piece.length
      }
      await fh.sync()
    } finally {
      await fh.close()
    }
  }
  await src.end(size)
  for (const d of [...manifest.dirs].reverse()) await syncDir(inside(d))
  await syncDir(stage)
}
