// The snapshot stream (DESIGN.md §5.3): chunk boundaries, the root against an independent
// computation, file and directory round trips, and hostile archives refused before anything
// lands at the output path.

import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { TrothError, type ErrorCode } from '../../src/errors.ts'
import { encode, type CborValue } from '../../src/ledger/encoding.ts'
import { CHUNK_BYTES, NAME_BYTES_MAX } from '../../src/ledger/limits.ts'
import { rootOf } from '../../src/ledger/merkle.ts'
import {
  MANIFEST_BYTES_MAX,
  chunkLeaves,
  readSnapshot,
  snapshotChunks,
  snapshotName,
  unpackSnapshot,
} from '../../src/obligation/snapshot.ts'

const dirs: string[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'troth-snapshot-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  while (dirs.length > 0) rmSync(dirs.pop() as string, { recursive: true, force: true })
})

/** Leaf hash computed without merkle.ts: SHA-256(0x00 || chunk), RFC 9162 §2.1.1. */
function refLeaf(chunk: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(Uint8Array.of(0)).update(chunk).digest())
}
function refLeaves(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let at = 0; at < bytes.length; at += CHUNK_BYTES) out.push(refLeaf(bytes.subarray(at, at + CHUNK_BYTES)))
  return out
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const c of it) out.push(c)
  return out
}
const concat = (parts: readonly Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts))

async function* piecesOf(bytes: Uint8Array, pieceBytes = CHUNK_BYTES): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += pieceBytes) yield bytes.slice(at, at + pieceBytes)
}

async function refusal(p: Promise<unknown>): Promise<TrothError> {
  try {
    await p
  } catch (err) {
    if (err instanceof TrothError) return err
    throw err
  }
  throw new Error('expected a TrothError, nothing was thrown')
}

async function expectRefused(p: Promise<unknown>, code: ErrorCode, message: RegExp): Promise<void> {
  const err = await refusal(p)
  expect(err.code).toBe(code)
  expect(err.message).toMatch(message)
}

describe('chunking', () => {
  it('refuses an empty stream, in memory and as a file', async () => {
    expect(() => chunkLeaves(new Uint8Array(0))).toThrow(/nothing to seal/)
    const path = join(tempDir(), 'empty')
    writeFileSync(path, '')
    await expectRefused(readSnapshot(path), 'input.invalid', /nothing to seal/)
  })

  for (const size of [1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 2 * CHUNK_BYTES, 3 * 1024 * 1024 + 12_345]) {
    it(`a ${size}-byte file: chunks, leaves and root`, async () => {
      const bytes = new Uint8Array(randomBytes(size))
      const path = join(tempDir(), 'data.bin')
      writeFileSync(path, bytes)
      const want = refLeaves(bytes)
      expect(chunkLeaves(bytes)).toEqual(want)

      const snap = await readSnapshot(path)
      expect(snap.kind).toBe('file')
      expect(snap.name).toBe('data.bin')
      expect(snap.size).toBe(size)
      expect(snap.chunks).toBe(Math.ceil(size / CHUNK_BYTES))
      expect(snap.leaves).toEqual(want)
      expect(snap.root).toEqual(rootOf(want))

      const chunks = await collect(snapshotChunks(path, 'file'))
      expect(chunks.map((c) => c.length)).toEqual(want.map((_, i) => (i < want.length - 1 ? CHUNK_BYTES : size - i * CHUNK_BYTES)))
      expect(concat(chunks)).toEqual(bytes)
      expect(await collect(snapshotChunks(path, 'file'))).toEqual(chunks)
    })
  }

  it('follows a symbolic link the user names, and takes its name', async () => {
    const dir = tempDir()
    const bytes = new Uint8Array(randomBytes(100))
    writeFileSync(join(dir, 'real'), bytes)
    symlinkSync(join(dir, 'real'), join(dir, 'alias'))
    const snap = await readSnapshot(join(dir, 'alias'))
    expect(snap.name).toBe('alias')
    expect(snap.leaves).toEqual(refLeaves(bytes))
  })

  it('refuses a kind that does not match the path', async () => {
    const dir = tempDir()
    await expectRefused(collect(snapshotChunks(dir, 'file')), 'input.invalid', /is a directory, not a file/)
    await expectRefused(readSnapshot(join(dir, 'nope')), 'input.not-found', /does not exist/)
  })
})

describe('names', () => {
  it('is the basename, with a slash for a directory, trimmed at a code point', () => {
    expect(snapshotName('/a/b/photos/', 'dir')).toBe('photos/')
    expect(snapshotName('/a/b/x.tar', 'file')).toBe('x.tar')
    const long = 'é'.repeat(40) // 80 UTF-8 bytes
    const file = snapshotName(`/tmp/${long}`, 'file')
    const dir = snapshotName(`/tmp/${long}`, 'dir')
    expect(Buffer.byteLength(file)).toBe(NAME_BYTES_MAX)
    expect(file).toBe('é'.repeat(32))
    expect(Buffer.byteLength(dir)).toBeLessThanOrEqual(NAME_BYTES_MAX)
    expect(dir).toBe(`${'é'.repeat(31)}/`)
    expect(snapshotName('/tmp/a\u001bb\u202ec', 'file')).toBe('a_b_c')
  })
})

describe('file round trip', () => {
  it('snapshotChunks → unpackSnapshot gives the same bytes, and refuses an existing output', async () => {
    const dir = tempDir()
    const bytes = new Uint8Array(randomBytes(2 * CHUNK_BYTES + 77))
    const path = join(dir, 'in')
    writeFileSync(path, bytes)
    const out = join(dir, 'out')
    await unpackSnapshot(false, snapshotChunks(path, 'file'), out, bytes.length)
    expect(new Uint8Array(readFileSync(out))).toEqual(bytes)
    await expectRefused(unpackSnapshot(false, snapshotChunks(path, 'file'), out, bytes.length), 'input.invalid', /already exists/)
    expect(readdirSync(dir).sort()).toEqual(['in', 'out'])
  })

  it('refuses a stream shorter or longer than the size, leaving nothing behind', async () => {
    const dir = tempDir()
    const bytes = new Uint8Array(randomBytes(1000))
    await expectRefused(unpackSnapshot(false, piecesOf(bytes), join(dir, 'a'), 1001), 'input.invalid', /ends after 1000 of its declared 1001/)
    await expectRefused(unpackSnapshot(false, piecesOf(bytes, 100), join(dir, 'b'), 999), 'input.invalid', /bytes after its declared size/)
    await expectRefused(unpackSnapshot(false, piecesOf(bytes), join(dir, 'c'), 0), 'input.invalid', /outside \[1,/)
    expect(readdirSync(dir)).toEqual([])
  })
})

/** A tree with nested and empty directories, an empty file, an executable and a multi-chunk file. */
function makeTree(root: string): void {
  mkdirSync(join(root, 'a', 'b'), { recursive: true })
  mkdirSync(join(root, 'a', 'empty'))
  mkdirSync(join(root, 'z-empty'))
  writeFileSync(join(root, 'a', 'b', 'deep.txt'), 'deep\n')
  writeFileSync(join(root, 'a', 'nothing'), '')
  writeFileSync(join(root, 'a-b'), 'sorts before a/ bytewise')
  writeFileSync(join(root, 'big.bin'), randomBytes(CHUNK_BYTES + 4321))
  writeFileSync(join(root, 'run.sh'), '#!/bin/sh\necho hi\n')
  chmodSync(join(root, 'run.sh'), 0o755)
  writeFileSync(join(root, 'ünï ★.txt'), 'utf-8 name')
}

/** Every entry below root: relative path → 'dir' | file bytes (hex) + exec bit. */
function describeTree(root: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of readdirSync(join(root, rel)).sort()) {
    const path = rel === '' ? name : `${rel}/${name}`
    const st = lstatSync(join(root, path))
    if (st.isDirectory()) {
      out[path] = 'dir'
      Object.assign(out, describeTree(root, path))
    } else {
      out[path] = `${(st.mode & 0o100) !== 0 ? 'x' : '-'} ${createHash('sha256').update(readFileSync(join(root, path))).digest('hex')}`
    }
  }
  return out
}

describe('directory round trip', () => {
  it('packs a tree into one deterministic archive and unpacks it identically', async () => {
    const base = tempDir()
    const src = join(base, 'tree')
    makeTree(src)
    const snap = await readSnapshot(src)
    expect(snap.kind).toBe('dir')
    expect(snap.name).toBe('tree/')
    const chunks = await collect(snapshotChunks(src, 'dir'))
    expect(await collect(snapshotChunks(src, 'dir'))).toEqual(chunks)
    const stream = concat(chunks)
    expect(stream.length).toBe(snap.size)
    expect(snap.leaves).toEqual(refLeaves(stream))
    expect(snap.root).toEqual(rootOf(refLeaves(stream)))

    // The manifest, as a reader finds it.
    const length = Number(new DataView(stream.buffer, stream.byteOffset).getBigUint64(0))
    expect(Buffer.from(stream.subarray(8, 8 + length))).toEqual(
      Buffer.from(
        encode({
          dirs: ['a', 'a/b', 'a/empty', 'z-empty'],
          files: [
            { path: 'a-b', size: 24, exec: false },
            { path: 'a/b/deep.txt', size: 5, exec: false },
            { path: 'a/nothing', size: 0, exec: false },
            { path: 'big.bin', size: CHUNK_BYTES + 4321, exec: false },
            { path: 'run.sh', size: 18, exec: true },
            { path: 'ünï ★.txt', size: 10, exec: false },
          ],
        }),
      ),
    )

    const out = join(base, 'copy')
    // Odd piece sizes: the unpacker must not depend on chunk boundaries.
    await unpackSnapshot(true, piecesOf(stream, 9999), out, snap.size)
    expect(describeTree(out)).toEqual(describeTree(src))
    expect(readdirSync(base).sort()).toEqual(['copy', 'tree'])
  })

  it('packs an empty directory', async () => {
    const base = tempDir()
    mkdirSync(join(base, 'void'))
    const snap = await readSnapshot(join(base, 'void'))
    expect(snap.chunks).toBe(1)
    await unpackSnapshot(true, snapshotChunks(join(base, 'void'), 'dir'), join(base, 'out'), snap.size)
    expect(readdirSync(join(base, 'out'))).toEqual([])
  })

  it('refuses a symbolic link inside the tree, naming it', async () => {
    const base = tempDir()
    const src = join(base, 'tree')
    makeTree(src)
    symlinkSync('/etc/passwd', join(src, 'a', 'b', 'link'))
    await expectRefused(readSnapshot(src), 'input.invalid', /a\/b\/link is a symbolic link/)
  })

  it('refuses a name with a backslash', async () => {
    const base = tempDir()
    mkdirSync(join(base, 'tree'))
    writeFileSync(join(base, 'tree', 'a\\b'), 'x')
    await expectRefused(readSnapshot(join(base, 'tree')), 'input.invalid', /contains a backslash/)
  })
})

/** header || manifest || contents, with the size it accounts for. */
function archive(manifest: CborValue, contents: Uint8Array = new Uint8Array(0)): { bytes: Uint8Array; size: number } {
  const body = encode(manifest)
  const header = new Uint8Array(8)
  new DataView(header.buffer).setBigUint64(0, BigInt(body.length))
  const bytes = concat([header, body, contents])
  return { bytes, size: bytes.length }
}

/** A manifest of plain files at the top level, in the order given. */
function files(...list: [string, number][]): CborValue {
  return { dirs: [], files: list.map(([path, size]) => ({ path, size, exec: false })) }
}

describe('hostile archives', () => {
  const cases: { name: string; manifest: CborValue; contents?: number; sizeDelta?: number; extra?: number; code?: ErrorCode; message: RegExp }[] = [
    { name: '".." component', manifest: files(['../escape', 1]), contents: 1, message: /"\.\." component/ },
    { name: 'a ".." directory', manifest: { dirs: ['..'], files: [] }, message: /"\.\." component/ },
    { name: 'absolute path', manifest: files(['/etc/evil', 1]), contents: 1, message: /is absolute/ },
    { name: 'empty component', manifest: { dirs: ['a'], files: [{ path: 'a//b', size: 0, exec: false }] }, message: /empty component/ },
    { name: 'trailing slash', manifest: { dirs: ['a/'], files: [] }, message: /empty component/ },
    { name: 'NUL', manifest: files(['a\u0000b', 0]), message: /NUL/ },
    { name: 'backslash', manifest: files(['a\\..\\b', 0]), message: /backslash/ },
    { name: 'duplicate file', manifest: files(['a', 1], ['a', 1]), contents: 2, message: /listed twice/ },
    { name: 'unsorted files', manifest: files(['b', 1], ['a', 1]), contents: 2, message: /out of bytewise order/ },
    { name: 'unsorted dirs', manifest: { dirs: ['b', 'a'], files: [] }, message: /out of bytewise order/ },
    { name: 'file under a file', manifest: files(['a', 1], ['a/b', 1]), contents: 2, message: /"a\/b" is not inside a listed directory/ },
    { name: 'file under an unlisted dir', manifest: files(['d/x', 1]), contents: 1, message: /not inside a listed directory/ },
    { name: 'a path both dir and file', manifest: { dirs: ['a'], files: [{ path: 'a', size: 0, exec: false }] }, message: /both a directory and a file/ },
    { name: 'path over 4096 bytes', manifest: files(['x'.repeat(4097), 0]), message: /longer than 4096|exceeds the maximum 4096/ },
    { name: 'unknown manifest field', manifest: { dirs: [], files: [], links: [] }, message: /links: unknown field/ },
    { name: 'wrong type', manifest: { dirs: [], files: [{ path: 'a', size: -1, exec: false }] }, message: /size: expected unsigned integer/ },
    { name: 'non-boolean exec', manifest: { dirs: [], files: [{ path: 'a', size: 0, exec: 1 }] }, message: /exec: expected boolean/ },
    { name: 'size larger than the stream', manifest: files(['a', 10]), contents: 10, sizeDelta: 1, message: /accounts for \d+ bytes but the snapshot is/ },
    { name: 'size smaller than the stream', manifest: files(['a', 10]), contents: 10, sizeDelta: -1, message: /accounts for \d+ bytes but the snapshot is/ },
    { name: 'trailing bytes', manifest: files(['a', 10]), contents: 10, extra: 3, message: /bytes after its declared size/ },
    { name: 'a stream that ends early', manifest: files(['a', 10]), contents: 4, sizeDelta: 6, message: /ends inside archive file "a"/ },
  ]
  for (const c of cases) {
    it(`refuses ${c.name}`, async () => {
      const base = tempDir()
      const { bytes, size } = archive(c.manifest, new Uint8Array(randomBytes(c.contents ?? 0)))
      const stream = concat([bytes, new Uint8Array(c.extra ?? 0)])
      await expectRefused(unpackSnapshot(true, piecesOf(stream, 7), join(base, 'out'), size + (c.sizeDelta ?? 0)), c.code ?? 'input.invalid', c.message)
      expect(readdirSync(base)).toEqual([]) // neither the output nor the staging directory
    })
  }

  it('refuses a declared manifest over 16 MiB before reading it', async () => {
    const base = tempDir()
    const header = new Uint8Array(8)
    new DataView(header.buffer).setBigUint64(0, BigInt(MANIFEST_BYTES_MAX + 1))
    await expectRefused(unpackSnapshot(true, piecesOf(header), join(base, 'out'), 2 ** 30), 'input.too-large', /manifest of 16777217 bytes/)
    new DataView(header.buffer).setBigUint64(0, 2n ** 63n)
    await expectRefused(unpackSnapshot(true, piecesOf(header), join(base, 'out'), 2 ** 30), 'input.too-large', /over 16777216/)
    expect(readdirSync(base)).toEqual([])
  })

  it('refuses a manifest longer than the stream, and garbage where the manifest should be', async () => {
    const base = tempDir()
    const header = new Uint8Array(8)
    new DataView(header.buffer).setBigUint64(0, 100n)
    await expectRefused(unpackSnapshot(true, piecesOf(header), join(base, 'out'), 50), 'input.invalid', /longer than the 50-byte stream/)
    const junk = concat([header, new Uint8Array(100).fill(0xff)])
    await expectRefused(unpackSnapshot(true, piecesOf(junk), join(base, 'out'), 108), 'input.invalid', /archive manifest: /)
    // Canonical CBOR only: the same manifest with a non-shortest length head.
    const good = encode({ dirs: [], files: [] })
    const loose = concat([Uint8Array.of(0xb8, 0x02), good.subarray(1)]) // map(2) in a 2-byte head
    const h = new Uint8Array(8)
    new DataView(h.buffer).setBigUint64(0, BigInt(loose.length))
    await expectRefused(unpackSnapshot(true, piecesOf(concat([h, loose])), join(base, 'out'), 8 + loose.length), 'input.invalid', /shortest form/)
    expect(readdirSync(base)).toEqual([])
  })

  it('refuses an output that exists, and never follows it', async () => {
    const base = tempDir()
    const target = join(base, 'target')
    mkdirSync(target)
    symlinkSync(target, join(base, 'out'))
    const { bytes, size } = archive(files(['x', 1]), Uint8Array.of(1))
    await expectRefused(unpackSnapshot(true, piecesOf(bytes), join(base, 'out'), size), 'input.invalid', /already exists/)
    expect(readdirSync(target)).toEqual([])
  })

  it('unpacks a well-formed hand-made archive (the cases above fail only for their fault)', async () => {
    const base = tempDir()
    const manifest = { dirs: ['d', 'd/e'], files: [{ path: 'd/e/f', size: 3, exec: true }, { path: 'g', size: 2, exec: false }] }
    const { bytes, size } = archive(manifest, Uint8Array.of(1, 2, 3, 4, 5))
    await unpackSnapshot(true, piecesOf(bytes, 1), join(base, 'out'), size)
    expect(new Uint8Array(readFileSync(join(base, 'out', 'd', 'e', 'f')))).toEqual(Uint8Array.of(1, 2, 3))
    expect(lstatSync(join(base, 'out', 'd', 'e', 'f')).mode & 0o100).not.toBe(0)
    expect(new Uint8Array(readFileSync(join(base, 'out', 'g')))).toEqual(Uint8Array.of(4, 5))
    expect(existsSync(join(base, 'out', 'd', 'e'))).toBe(true)
  })
})
