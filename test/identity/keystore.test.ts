// The keystore (DESIGN.md §1, src/identity/keystore.ts, docs/keystore.md): round trips, the byte
// layout decoded independently of the implementation, file mode and exclusive creation, and a
// negative sweep (every truncation, every bit flip, tampering, permissions, bad parameters) in
// which every failure is a TrothError with the expected code and no message reveals the seed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { createDecipheriv, createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { scrypt } from '@noble/hashes/scrypt.js'
import {
  KEYSTORE_ENCRYPTED_BYTES,
  KEYSTORE_FILE_BYTES_MAX,
  KEYSTORE_PLAIN_BYTES,
  SecretSeed,
  createKeystore,
  loadKeystore,
  readKeystorePublic,
  type CreateKeystoreOptions,
} from '../../src/identity/keystore.ts'
import { publicKeyOf } from '../../src/identity/ed25519.ts'
import { TrothError, type ErrorCode } from '../../src/errors.ts'
import { toHex } from './vectors.ts'

const FAST = 14 // scrypt logN for tests
const PASS = 'correct horse battery staple'
const seed = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff)
const pub = publicKeyOf(seed)

let dir: string
let counter = 0
const messages: string[] = [] // every error message seen, checked for the seed at the end

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'troth-keystore-'))
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

function freshPath(): string {
  return join(dir, `key-${++counter}`)
}

function create(overrides: Partial<CreateKeystoreOptions> = {}): string {
  const path = freshPath()
  createKeystore(path, { seed, name: 'alice', passphrase: PASS, scryptLogN: FAST, ...overrides })
  return path
}

/** Run `fn`, expect a TrothError, record its message, return its code. */
function codeOf(fn: () => unknown): ErrorCode {
  let error: unknown
  try {
    fn()
  } catch (err) {
    error = err
  }
  if (!(error instanceof TrothError)) throw new Error(`expected a TrothError, got ${String(error)}`)
  expect(error.message).not.toMatch(/\n/)
  messages.push(error.message, String(error), inspect(error))
  return error.code
}

function writeRaw(path: string, bytes: Uint8Array): void {
  rmSync(path, { force: true })
  writeFileSync(path, bytes, { mode: 0o600 })
  chmodSync(path, 0o600)
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

/** Rewrite the trailing checksum, as a deliberate tamperer would. */
function resum(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice()
  out.set(sha256(out.subarray(0, out.length - 32)), out.length - 32)
  return out
}

describe('round trip', () => {
  it('encrypted: load gives the seed, key and name back; the public part reads without a passphrase', () => {
    const path = freshPath()
    const created = createKeystore(path, { seed, name: 'alice', passphrase: PASS, scryptLogN: FAST })
    expect(created).toEqual({ publicKey: pub, name: 'alice', encrypted: true })
    const loaded = loadKeystore(path, { passphrase: PASS })
    expect(toHex(loaded.seed)).toBe(toHex(seed))
    expect(toHex(loaded.publicKey)).toBe(toHex(pub))
    expect(loaded.name).toBe('alice')
    expect(loaded.encrypted).toBe(true)
    expect(readKeystorePublic(path)).toEqual({ publicKey: pub, name: 'alice', encrypted: true })
    expect(statSync(path).size).toBe(KEYSTORE_ENCRYPTED_BYTES)
  })

  it('plain: load needs no passphrase and ignores one', () => {
    const path = freshPath()
    expect(createKeystore(path, { seed, name: 'bob', plain: true })).toEqual({ publicKey: pub, name: 'bob', encrypted: false })
    for (const options of [undefined, {}, { passphrase: 'anything' }]) {
      const loaded = loadKeystore(path, options)
      expect(toHex(loaded.seed)).toBe(toHex(seed))
      expect(loaded.encrypted).toBe(false)
    }
    expect(readKeystorePublic(path)).toEqual({ publicKey: pub, name: 'bob', encrypted: false })
    expect(statSync(path).size).toBe(KEYSTORE_PLAIN_BYTES)
  })

  it('names up to 64 UTF-8 bytes, including multi-byte characters', () => {
    for (const name of ['a', 'é'.repeat(32), 'x'.repeat(64), 'node 🌱 at home']) {
      const path = create({ name, plain: true, passphrase: undefined })
      expect(readKeystorePublic(path).name).toBe(name)
    }
  })

  it('the passphrase is NFC-normalized: composed and decomposed spellings open the same file', () => {
    const path = create({ passphrase: 'caf\u00e9' })
    expect(toHex(loadKeystore(path, { passphrase: 'cafe\u0301' }).seed)).toBe(toHex(seed))
  })

  it('default cost (logN 17) creates and loads', () => {
    const path = freshPath()
    createKeystore(path, { seed, name: 'default', passphrase: PASS })
    expect(readFileSync(path)[108]).toBe(17)
    expect(toHex(loadKeystore(path, { passphrase: PASS }).seed)).toBe(toHex(seed))
  })
})

describe('the byte layout of docs/keystore.md, decoded independently', () => {
  it('encrypted', () => {
    const path = create({ name: 'carol' })
    const b = new Uint8Array(readFileSync(path))
    expect(b.length).toBe(235)
    expect(Buffer.from(b.subarray(0, 8)).toString('latin1')).toBe('trothkey')
    expect([b[8], b[9], b[10]]).toEqual([1, 1, 5])
    expect(Buffer.from(b.subarray(11, 16)).toString('utf8')).toBe('carol')
    expect(b.subarray(16, 75).every((x) => x === 0)).toBe(true)
    expect(toHex(b.subarray(75, 107))).toBe(toHex(pub))
    expect([b[107], b[108], b[109], b[110]]).toEqual([1, FAST, 8, 1])
    expect(toHex(b.subarray(203))).toBe(toHex(sha256(b.subarray(0, 203))))
    // scrypt(NFC(passphrase), salt) → ChaCha20-Poly1305 key; associated data = bytes 0..155
    const key = scrypt(new TextEncoder().encode(PASS), b.subarray(111, 143), { N: 2 ** FAST, r: 8, p: 1, dkLen: 32 })
    const decipher = createDecipheriv('chacha20-poly1305', key, b.subarray(143, 155), { authTagLength: 16 })
    decipher.setAAD(b.subarray(0, 155), { plaintextLength: 32 })
    decipher.setAuthTag(b.subarray(187, 203))
    const plain = Buffer.concat([decipher.update(b.subarray(155, 187)), decipher.final()])
    expect(toHex(plain)).toBe(toHex(seed))
  })

  it('plain', () => {
    const path = create({ name: 'dave', plain: true, passphrase: undefined })
    const b = new Uint8Array(readFileSync(path))
    expect(b.length).toBe(171)
    expect(Buffer.from(b.subarray(0, 8)).toString('latin1')).toBe('trothkey')
    expect([b[8], b[9], b[10]]).toEqual([1, 2, 4])
    expect(toHex(b.subarray(75, 107))).toBe(toHex(pub))
    expect(toHex(b.subarray(107, 139))).toBe(toHex(seed))
    expect(toHex(b.subarray(139))).toBe(toHex(sha256(b.subarray(0, 139))))
  })

  it('two files of the same seed and passphrase differ (fresh salt and nonce)', () => {
    const a = readFileSync(create())
    const b = readFileSync(create())
    expect(a.subarray(111, 155).equals(b.subarray(111, 155))).toBe(false)
  })
})

describe('file creation', () => {
  it('the file is mode 0600 whatever the umask', () => {
    const previous = process.umask()
    try {
      for (const umask of [0o000, 0o022, 0o077, 0o277]) {
        process.umask(umask)
        const path = create({ plain: true, passphrase: undefined })
        expect(statSync(path).mode & 0o777).toBe(0o600)
      }
    } finally {
      process.umask(previous)
    }
  })

  it('a second create fails keystore.exists and leaves the first file as it was', () => {
    const path = create()
    const before = readFileSync(path)
    expect(codeOf(() => createKeystore(path, { seed: new Uint8Array(32), name: 'mallory', plain: true }))).toBe('keystore.exists')
    expect(readFileSync(path).equals(before)).toBe(true)
    expect(toHex(loadKeystore(path, { passphrase: PASS }).seed)).toBe(toHex(seed))
  })

  it('a symlink at the path, even a dangling one, is never followed: keystore.exists', () => {
    const target = join(dir, 'symlink-target')
    const path = freshPath()
    symlinkSync(target, path)
    expect(codeOf(() => createKeystore(path, { seed, name: 'a', plain: true }))).toBe('keystore.exists')
    expect(existsSync(target)).toBe(false)
  })

  it('creating in a missing directory is keystore.not-found', () => {
    expect(codeOf(() => createKeystore(join(dir, 'no-such-dir', 'key'), { seed, name: 'a', plain: true }))).toBe('keystore.not-found')
  })

  it('invalid options are rejected before anything is written', () => {
    const cases: [Partial<CreateKeystoreOptions>, ErrorCode][] = [
      [{ passphrase: undefined }, 'keystore.no-passphrase'],
      [{ passphrase: '' }, 'keystore.no-passphrase'],
      [{ plain: true }, 'input.invalid'], // a passphrase and plain together
      [{ name: '' }, 'input.invalid'],
      [{ name: 'x'.repeat(65) }, 'input.invalid'],
      [{ name: 'é'.repeat(33) }, 'input.invalid'], // 66 bytes
      [{ name: 'tab\there' }, 'input.invalid'],
      [{ name: 'esc\u001b[31m' }, 'input.invalid'],
      [{ name: 'c1\u0085' }, 'input.invalid'],
      [{ name: 'lone \ud800' }, 'input.invalid'],
      [{ scryptLogN: 13 }, 'input.invalid'],
      [{ scryptLogN: 21 }, 'input.invalid'],
      [{ scryptLogN: 16.5 }, 'input.invalid'],
      [{ seed: new Uint8Array(31) }, 'id.invalid-key'],
      [{ seed: new Uint8Array(64) }, 'id.invalid-key'],
    ]
    for (const [overrides, code] of cases) {
      const path = freshPath()
      expect(codeOf(() => createKeystore(path, { seed, name: 'alice', passphrase: PASS, scryptLogN: FAST, ...overrides }))).toBe(code)
      expect(existsSync(path)).toBe(false)
    }
  })
})

describe('load failures', () => {
  let encrypted: Uint8Array
  let plain: Uint8Array
  beforeAll(() => {
    encrypted = new Uint8Array(readFileSync(create()))
    plain = new Uint8Array(readFileSync(create({ plain: true, passphrase: undefined })))
  })

  it('missing file: keystore.not-found', () => {
    expect(codeOf(() => loadKeystore(join(dir, 'missing'), { passphrase: PASS }))).toBe('keystore.not-found')
    expect(codeOf(() => readKeystorePublic(join(dir, 'missing')))).toBe('keystore.not-found')
  })

  it('a directory is not a keystore: keystore.corrupt', () => {
    const path = join(dir, 'a-directory')
    mkdirSync(path, { mode: 0o700 })
    expect(codeOf(() => loadKeystore(path))).toBe('keystore.corrupt')
  })

  it('a FIFO at the path does not hang the load: keystore.corrupt', () => {
    const path = join(dir, 'a-fifo')
    execFileSync('mkfifo', ['-m', '600', path])
    expect(codeOf(() => loadKeystore(path))).toBe('keystore.corrupt')
  })

  it('wrong passphrase: keystore.wrong-passphrase', () => {
    const path = freshPath()
    writeRaw(path, encrypted)
    for (const passphrase of ['wrong', PASS + ' ', PASS.toUpperCase()]) {
      expect(codeOf(() => loadKeystore(path, { passphrase }))).toBe('keystore.wrong-passphrase')
    }
  })

  it('encrypted without a passphrase: keystore.no-passphrase, and readKeystorePublic still works', () => {
    const path = freshPath()
    writeRaw(path, encrypted)
    expect(codeOf(() => loadKeystore(path))).toBe('keystore.no-passphrase')
    expect(codeOf(() => loadKeystore(path, { passphrase: '' }))).toBe('keystore.no-passphrase')
    expect(readKeystorePublic(path).encrypted).toBe(true)
  })

  it('group or other access: keystore.permissions, with the fix in the message', () => {
    const path = freshPath()
    writeRaw(path, plain)
    for (const mode of [0o644, 0o640, 0o604, 0o660, 0o606, 0o601, 0o610, 0o666]) {
      chmodSync(path, mode)
      expect(codeOf(() => loadKeystore(path))).toBe('keystore.permissions')
      expect(codeOf(() => readKeystorePublic(path))).toBe('keystore.permissions')
      expect(messages.at(-3)).toContain(`chmod 600 ${path}`)
    }
    for (const mode of [0o600, 0o400, 0o700]) {
      chmodSync(path, mode)
      expect(toHex(loadKeystore(path).seed)).toBe(toHex(seed))
    }
  })

  for (const kind of ['encrypted', 'plain'] as const) {
    it(`${kind}: truncation at every length from 0 to full-1 is keystore.truncated`, () => {
      const full = kind === 'encrypted' ? encrypted : plain
      const path = freshPath()
      for (let length = 0; length < full.length; length++) {
        writeRaw(path, full.subarray(0, length))
        expect(codeOf(() => loadKeystore(path, { passphrase: PASS }))).toBe('keystore.truncated')
        expect(codeOf(() => readKeystorePublic(path))).toBe('keystore.truncated')
      }
    })

    it(`${kind}: a flip of any single bit is keystore.corrupt (the checksum)`, () => {
      const full = kind === 'encrypted' ? encrypted : plain
      const path = freshPath()
      let flips = 0
      for (let bit = 0; bit < full.length * 8; bit++) {
        const bytes = full.slice()
        bytes[bit >> 3] = (bytes[bit >> 3] as number) ^ (1 << (bit & 7))
        writeRaw(path, bytes)
        expect(codeOf(() => loadKeystore(path, { passphrase: PASS }))).toBe('keystore.corrupt')
        flips++
      }
      expect(flips).toBe(full.length * 8)
    })

    it(`${kind}: trailing bytes and oversized files are keystore.corrupt`, () => {
      const full = kind === 'encrypted' ? encrypted : plain
      const path = freshPath()
      writeRaw(path, new Uint8Array([...full, 0]))
      expect(codeOf(() => loadKeystore(path, { passphrase: PASS }))).toBe('keystore.corrupt')
      const big = new Uint8Array(KEYSTORE_FILE_BYTES_MAX + 1)
      big.set(full)
      writeRaw(path, big)
      expect(codeOf(() => loadKeystore(path, { passphrase: PASS }))).toBe('keystore.corrupt')
    })
  }

  it('not a keystore at all: keystore.corrupt', () => {
    const path = freshPath()
    for (const bytes of [new TextEncoder().encode('-----BEGIN OPENSSH PRIVATE KEY-----\n'), new Uint8Array(235), new Uint8Array(KEYSTORE_FILE_BYTES_MAX).fill(0x41)]) {
      writeRaw(path, bytes)
      expect(codeOf(() => loadKeystore(path, { passphrase: PASS }))).toBe('keystore.corrupt')
    }
  })

  it('header tampering with a recomputed checksum: the AEAD catches it (encrypted)', () => {
    const path = freshPath()
    const edits: [string, (b: Uint8Array) => void][] = [
      ['name', (b) => (b[11] = 'm'.charCodeAt(0))],
      ['public key', (b) => (b[80] = (b[80] as number) ^ 1)],
      ['salt', (b) => (b[120] = (b[120] as number) ^ 1)],
      ['nonce', (b) => (b[150] = (b[150] as number) ^ 1)],
      ['ciphertext', (b) => (b[160] = (b[160] as number) ^ 1)],
      ['tag', (b) => (b[190] = (b[190] as number) ^ 1)],
      ['logN', (b) => (b[108] = FAST + 1)],
    ]
    for (const [, edit] of edits) {
      const bytes = encrypted.slice()
      edit(bytes)
      writeRaw(path, resum(bytes))
      expect(codeOf(() => loadKeystore(path, { passphrase: PASS }))).toBe('keystore.wrong-passphrase')
    }
  })

  it('header tampering with a recomputed checksum (plain): a changed key or seed is caught', () => {
    const path = freshPath()
    for (const at of [80, 120]) {
      const bytes = plain.slice()
      bytes[at] = (bytes[at] as number) ^ 1
      writeRaw(path, resum(bytes))
      expect(codeOf(() => loadKeystore(path))).toBe('keystore.corrupt')
    }
  })

  it('out-of-range fields with a recomputed checksum are keystore.corrupt', () => {
    const path = freshPath()
    const edits: [number, number][] = [
      [8, 2], // version
      [9, 0], // kind
      [9, 3],
      [10, 65], // name length
      [10, 0], // empty name
      [30, 1], // non-zero name padding
      [11, 0x07], // control character in the name
      [11, 0xff], // invalid UTF-8
      [107, 2], // unknown KDF
      [108, 13], // logN
      [108, 21],
      [109, 16], // r
      [110, 2], // p
    ]
    for (const [at, value] of edits) {
      const bytes = encrypted.slice()
      bytes[at] = value
      writeRaw(path, resum(bytes))
      expect(codeOf(() => loadKeystore(path, { passphrase: PASS }))).toBe('keystore.corrupt')
    }
    // version and kind checks come before the size check, so even short files say corrupt
    writeRaw(path, new Uint8Array([...new TextEncoder().encode('trothkey'), 9, 1]))
    expect(codeOf(() => loadKeystore(path))).toBe('keystore.corrupt')
  })
})

describe('the seed stays secret', () => {
  it('SecretSeed prints as redacted and can be wiped', () => {
    const path = create()
    const loaded = loadKeystore(path, { passphrase: PASS })
    expect(loaded.seed).toBeInstanceOf(SecretSeed)
    expect(loaded.seed).toBeInstanceOf(Uint8Array)
    const printed = [String(loaded.seed), `${loaded.seed}`, JSON.stringify(loaded), inspect(loaded), inspect(loaded.seed, { depth: 5 }), loaded.seed.toLocaleString()]
    for (const text of printed) {
      expect(text).not.toContain(toHex(seed))
      expect(text).not.toContain(Array.from(seed).join(','))
    }
    expect(String(loaded.seed)).toBe('[SecretSeed redacted]')
    loaded.seed.wipe()
    expect(loaded.seed.every((b) => b === 0)).toBe(true)
  })

  it('no error message seen in this file contains the seed', () => {
    expect(messages.length).toBeGreaterThan(1000)
    const b64 = Buffer.from(seed).toString('base64')
    const forms = [toHex(seed), toHex(seed).toUpperCase(), b64, b64.replace(/=+$/, ''), Buffer.from(seed).toString('base64url'), Array.from(seed).join(','), Array.from(seed).join(', ')]
    for (const message of messages) for (const form of forms) expect(message.includes(form)).toBe(false)
  })
})
