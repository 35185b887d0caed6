// The node's keystore (DESIGN.md §1): one small binary file, mode 0600, holding the member's
// Ed25519 seed encrypted under a passphrase (scrypt from @noble/hashes, then ChaCha20-Poly1305,
// RFC 8439) or, only when the operator asks for it, in plain. docs/keystore.md has the format.
// Every failure is a TrothError with a one-line message; the seed never appears in any of them.

import { closeSync, constants as fsConstants, fchmodSync, fstatSync, fsyncSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { scrypt } from '@noble/hashes/scrypt.js'
import { TrothError, assert, type ErrorCode } from '../errors.ts'
import { PUBLIC_KEY_BYTES, SEED_BYTES, publicKeyOf } from './ed25519.ts'

// ---------------------------------------------------------------------------------------------
// Format v1. Fixed size per kind, so a file's length alone tells truncation from corruption.

export const KEYSTORE_MAGIC = 'trothkey'
export const KEYSTORE_VERSION = 1
export const KEYSTORE_FILE_BYTES_MAX = 4096
/** Same bound as the ledger's member names (DESIGN.md §2). */
export const KEYSTORE_NAME_BYTES_MAX = 64
export const SCRYPT_LOG_N_DEFAULT = 17
export const SCRYPT_LOG_N_MIN = 14
export const SCRYPT_LOG_N_MAX = 20
export const SCRYPT_R = 8
export const SCRYPT_P = 1

const KIND_ENCRYPTED = 0x01
const KIND_PLAIN = 0x02
const KDF_SCRYPT = 0x01
const MAGIC_BYTES = new TextEncoder().encode(KEYSTORE_MAGIC)
const SALT_BYTES = 32
const NONCE_BYTES = 12
const AEAD_KEY_BYTES = 32
const AEAD_TAG_BYTES = 16
const CHECKSUM_BYTES = 32

// Byte offsets (docs/keystore.md).
const OFF_VERSION = 8
const OFF_KIND = 9
const OFF_NAME_LEN = 10
const OFF_NAME = 11
const OFF_PUBLIC_KEY = OFF_NAME + KEYSTORE_NAME_BYTES_MAX // 75
const OFF_BODY = OFF_PUBLIC_KEY + PUBLIC_KEY_BYTES // 107
// encrypted body
const OFF_KDF = OFF_BODY // 107
const OFF_LOG_N = OFF_BODY + 1
const OFF_R = OFF_BODY + 2
const OFF_P = OFF_BODY + 3
const OFF_SALT = OFF_BODY + 4 // 111
const OFF_NONCE = OFF_SALT + SALT_BYTES // 143
const OFF_CIPHERTEXT = OFF_NONCE + NONCE_BYTES // 155, also the end of the associated data
const OFF_ENC_CHECKSUM = OFF_CIPHERTEXT + SEED_BYTES + AEAD_TAG_BYTES // 203
export const KEYSTORE_ENCRYPTED_BYTES = OFF_ENC_CHECKSUM + CHECKSUM_BYTES // 235
// plain body
const OFF_PLAIN_SEED = OFF_BODY // 107
const OFF_PLAIN_CHECKSUM = OFF_PLAIN_SEED + SEED_BYTES // 139
export const KEYSTORE_PLAIN_BYTES = OFF_PLAIN_CHECKSUM + CHECKSUM_BYTES // 171

// ---------------------------------------------------------------------------------------------
// The secret seed, in a form that can be wiped and does not print itself.

const REDACTED = '[SecretSeed redacted]'

/** The 32-byte secret seed. A Uint8Array (pass it to sign/signRaw as is) that prints as
 * `[SecretSeed redacted]` through toString, JSON and util.inspect. Call wipe() when done. */
export class SecretSeed extends Uint8Array {
  /** Overwrite the bytes with zeros. */
  wipe(): void {
    this.fill(0)
  }
  override toString(): string {
    return REDACTED
  }
  override toLocaleString(): string {
    return REDACTED
  }
  toJSON(): string {
    return REDACTED
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return REDACTED
  }
}

function secretCopy(bytes: Uint8Array): SecretSeed {
  const out = new SecretSeed(bytes.length)
  out.set(bytes)
  return out
}

// ---------------------------------------------------------------------------------------------
// Public face.

export interface KeystorePublic {
  publicKey: Uint8Array
  name: string
  encrypted: boolean
}

export interface Keystore extends KeystorePublic {
  seed: SecretSeed
}

export interface CreateKeystoreOptions {
  seed: Uint8Array
  name: string
  /** Required unless plain is true. */
  passphrase?: string | undefined
  /** Store the seed unencrypted (the operator's --insecure-plain-key). */
  plain?: boolean | undefined
  /** scrypt cost, N = 2^scryptLogN; SCRYPT_LOG_N_MIN..SCRYPT_LOG_N_MAX, default 17. */
  scryptLogN?: number | undefined
}

export interface LoadKeystoreOptions {
  passphrase?: string | undefined
}

/** Create the keystore file at `path`, exclusively (never overwrites), mode 0600, durably. */
export function createKeystore(path: string, options: CreateKeystoreOptions): KeystorePublic {
  const { seed, name, passphrase, plain = false, scryptLogN = SCRYPT_LOG_N_DEFAULT } = options
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) {
    throw new TrothError('id.invalid-key', `secret key must be ${SEED_BYTES} bytes`)
  }
  const nameProblem = checkName(name)
  if (nameProblem !== null) throw new TrothError('input.invalid', `invalid keystore name: ${nameProblem}`)
  if (plain && passphrase !== undefined) {
    throw new TrothError('input.invalid', 'give either a passphrase or the plain (insecure) option, not both')
  }
  if (!plain && (passphrase === undefined || passphrase === '')) {
    throw new TrothError('keystore.no-passphrase', 'a passphrase is required to create an encrypted keystore (or choose --insecure-plain-key)')
  }
  if (!Number.isInteger(scryptLogN) || scryptLogN < SCRYPT_LOG_N_MIN || scryptLogN > SCRYPT_LOG_N_MAX) {
    throw new TrothError('input.invalid', `scrypt cost logN must be an integer from ${SCRYPT_LOG_N_MIN} to ${SCRYPT_LOG_N_MAX}`)
  }
  const publicKey = publicKeyOf(seed)
  const bytes = plain ? encodePlain(name, publicKey, seed) : encodeEncrypted(name, publicKey, seed, passphrase as string, scryptLogN)
  try {
    // Check the bytes before they reach the disk (STYLE.md: check data before writing).
    const parsed = parseKeystore(bytes, path)
    assert(parsed.name === name && timingSafeEqual(parsed.publicKey, publicKey), 'keystore encoding round trip')
    writeExclusive(path, bytes)
  } finally {
    bytes.fill(0)
  }
  return { publicKey, name, encrypted: !plain }
}

/** Read and decrypt the keystore at `path`. The seed must re-derive the stored public key. */
export function loadKeystore(path: string, options: LoadKeystoreOptions = {}): Keystore {
  const bytes = readKeystoreFile(path)
  try {
    const parsed = parseKeystore(bytes, path)
    let seed: SecretSeed
    if (parsed.kind === KIND_PLAIN) {
      seed = secretCopy(bytes.subarray(OFF_PLAIN_SEED, OFF_PLAIN_SEED + SEED_BYTES))
    } else {
      const passphrase = options.passphrase
      if (passphrase === undefined || passphrase === '') {
        throw new TrothError('keystore.no-passphrase', `keystore ${path} is encrypted: a passphrase is required`)
      }
      seed = decryptSeed(bytes, parsed, passphrase, path)
    }
    let derived: Uint8Array
    try {
      derived = publicKeyOf(seed)
    } catch {
      seed.wipe()
      throw fail('keystore.corrupt', path, 'the stored secret key is not usable')
    }
    if (!timingSafeEqual(derived, parsed.publicKey)) {
      seed.wipe()
      throw fail('keystore.corrupt', path, 'the secret key does not match the stored public key')
    }
    return { seed, publicKey: parsed.publicKey, name: parsed.name, encrypted: parsed.kind === KIND_ENCRYPTED }
  } finally {
    bytes.fill(0)
  }
}

/** The public key and name stored in clear, without the passphrase (`troth id`). The checksum
 * detects damage; only loadKeystore() (AEAD) can detect deliberate tampering. */
export function readKeystorePublic(path: string): KeystorePublic {
  const bytes = readKeystoreFile(path)
  try {
    const parsed = parseKeystore(bytes, path)
    return { publicKey: parsed.publicKey, name: parsed.name, encrypted: parsed.kind === KIND_ENCRYPTED }
  } finally {
    bytes.fill(0)
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding.

const utf8 = new TextEncoder()
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Why `name` is not a valid keystore name, or null. 1..64 UTF-8 bytes, no control characters. */
function checkName(name: unknown): string | null {
  if (typeof name !== 'string') return 'expected a string'
  const bytes = utf8.encode(name)
  if (bytes.length === 0) return 'must not be empty'
  if (bytes.length > KEYSTORE_NAME_BYTES_MAX) return `must be at most ${KEYSTORE_NAME_BYTES_MAX} UTF-8 bytes, got ${bytes.length}`
  if (utf8Strict.decode(bytes) !== name) return 'contains an unpaired surrogate'
  // C0, DEL and C1 controls: a name is printed to terminals (`troth id`).
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'must not contain control characters'
  return null
}

function header(kind: number, name: string, publicKey: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size)
  const nameBytes = utf8.encode(name)
  out.set(MAGIC_BYTES, 0)
  out[OFF_VERSION] = KEYSTORE_VERSION
  out[OFF_KIND] = kind
  out[OFF_NAME_LEN] = nameBytes.length
  out.set(nameBytes, OFF_NAME) // the rest of the name field stays zero
  out.set(publicKey, OFF_PUBLIC_KEY)
  return out
}

function checksum(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

function encodePlain(name: string, publicKey: Uint8Array, seed: Uint8Array): Uint8Array {
  const out = header(KIND_PLAIN, name, publicKey, KEYSTORE_PLAIN_BYTES)
  out.set(seed, OFF_PLAIN_SEED)
  out.set(checksum(out.subarray(0, OFF_PLAIN_CHECKSUM)), OFF_PLAIN_CHECKSUM)
  return out
}

function encodeEncrypted(name: string, publicKey: Uint8Array, seed: Uint8Array, passphrase: string, logN: number): Uint8Array {
  const out = header(KIND_ENCRYPTED, name, publicKey, KEYSTORE_ENCRYPTED_BYTES)
  out[OFF_KDF] = KDF_SCRYPT
  out[OFF_LOG_N] = logN
  out[OFF_R] = SCRYPT_R
  out[OFF_P] = SCRYPT_P
  out.set(randomBytes(SALT_BYTES), OFF_SALT)
  out.set(randomBytes(NONCE_BYTES), OFF_NONCE)
  const key = deriveKey(passphrase, out.subarray(OFF_SALT, OFF_SALT + SALT_BYTES), logN)
  try {
    const cipher = createCipheriv('chacha20-poly1305', key, out.subarray(OFF_NONCE, OFF_NONCE + NONCE_BYTES), { authTagLength: AEAD_TAG_BYTES })
    // The whole header is associated data: changing the name, key, KDF params or nonce breaks the tag.
    cipher.setAAD(out.subarray(0, OFF_CIPHERTEXT), { plaintextLength: SEED_BYTES })
    const ciphertext = cipher.update(seed)
    const final = cipher.final()
    assert(ciphertext.length === SEED_BYTES && final.length === 0, 'chacha20-poly1305 is a stream cipher')
    out.set(ciphertext, OFF_CIPHERTEXT)
    out.set(cipher.getAuthTag(), OFF_CIPHERTEXT + SEED_BYTES)
  } finally {
    key.fill(0)
  }
  out.set(checksum(out.subarray(0, OFF_ENC_CHECKSUM)), OFF_ENC_CHECKSUM)
  return out
}

function deriveKey(passphrase: string, salt: Uint8Array, logN: number): Uint8Array {
  // NFC so that the same passphrase typed on different systems gives the same bytes.
  const password = utf8.encode(passphrase.normalize('NFC'))
  try {
    const N = 2 ** logN
    return scrypt(password, salt, { N, r: SCRYPT_R, p: SCRYPT_P, dkLen: AEAD_KEY_BYTES, maxmem: 128 * SCRYPT_R * (N + SCRYPT_P + 1) })
  } finally {
    password.fill(0)
  }
}

function decryptSeed(bytes: Uint8Array, parsed: Parsed, passphrase: string, path: string): SecretSeed {
  const key = deriveKey(passphrase, bytes.subarray(OFF_SALT, OFF_SALT + SALT_BYTES), parsed.logN)
  let plaintext: Buffer | undefined
  try {
    const decipher = createDecipheriv('chacha20-poly1305', key, bytes.subarray(OFF_NONCE, OFF_NONCE + NONCE_BYTES), { authTagLength: AEAD_TAG_BYTES })
    decipher.setAAD(bytes.subarray(0, OFF_CIPHERTEXT), { plaintextLength: SEED_BYTES })
    decipher.setAuthTag(bytes.subarray(OFF_CIPHERTEXT + SEED_BYTES, OFF_ENC_CHECKSUM))
    plaintext = decipher.update(bytes.subarray(OFF_CIPHERTEXT, OFF_CIPHERTEXT + SEED_BYTES))
    try {
      decipher.final() // throws when the Poly1305 tag does not match
    } catch {
      throw fail('keystore.wrong-passphrase', path, 'wrong passphrase (or the file was deliberately altered)')
    }
    return secretCopy(plaintext)
  } finally {
    key.fill(0)
    plaintext?.fill(0)
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding: structure and checksum only, no secrets involved.

interface Parsed {
  kind: typeof KIND_ENCRYPTED | typeof KIND_PLAIN
  name: string
  publicKey: Uint8Array
  logN: number
}

function fail(code: ErrorCode, path: string, what: string): TrothError {
  return new TrothError(code, `keystore ${path}: ${what}`)
}

function parseKeystore(bytes: Uint8Array, path: string): Parsed {
  const corrupt = (what: string) => fail('keystore.corrupt', path, what)
  for (let i = 0; i < Math.min(bytes.length, MAGIC_BYTES.length); i++) {
    if (bytes[i] !== MAGIC_BYTES[i]) throw corrupt('not a troth keystore (bad magic bytes)')
  }
  if (bytes.length <= OFF_KIND) {
    throw fail('keystore.truncated', path, `file is truncated (${bytes.length} bytes)`)
  }
  if (bytes[OFF_VERSION] !== KEYSTORE_VERSION) throw corrupt(`unsupported format version ${bytes[OFF_VERSION]}`)
  const kind = bytes[OFF_KIND]
  if (kind !== KIND_ENCRYPTED && kind !== KIND_PLAIN) throw corrupt(`unknown kind ${kind}`)
  const size = kind === KIND_ENCRYPTED ? KEYSTORE_ENCRYPTED_BYTES : KEYSTORE_PLAIN_BYTES
  if (bytes.length < size) throw fail('keystore.truncated', path, `file is truncated (${bytes.length} of ${size} bytes)`)
  if (bytes.length > size) throw corrupt(`unexpected trailing bytes (${bytes.length} bytes, expected ${size})`)
  const sumAt = size - CHECKSUM_BYTES
  if (!timingSafeEqual(checksum(bytes.subarray(0, sumAt)), bytes.subarray(sumAt))) {
    throw corrupt('checksum mismatch, the file is damaged')
  }
  const nameLength = bytes[OFF_NAME_LEN] as number
  if (nameLength > KEYSTORE_NAME_BYTES_MAX) throw corrupt('name length out of range')
  if (bytes.subarray(OFF_NAME + nameLength, OFF_PUBLIC_KEY).some((b) => b !== 0)) throw corrupt('non-zero name padding')
  let name: string
  try {
    name = utf8Strict.decode(bytes.subarray(OFF_NAME, OFF_NAME + nameLength))
  } catch {
    throw corrupt('name is not valid UTF-8')
  }
  const nameProblem = checkName(name)
  if (nameProblem !== null) throw corrupt(`invalid name: ${nameProblem}`)
  const publicKey = bytes.slice(OFF_PUBLIC_KEY, OFF_PUBLIC_KEY + PUBLIC_KEY_BYTES)
  let logN = 0
  if (kind === KIND_ENCRYPTED) {
    if (bytes[OFF_KDF] !== KDF_SCRYPT) throw corrupt(`unknown key derivation function ${bytes[OFF_KDF]}`)
    logN = bytes[OFF_LOG_N] as number
    if (logN < SCRYPT_LOG_N_MIN || logN > SCRYPT_LOG_N_MAX) {
      throw corrupt(`scrypt logN ${logN} outside ${SCRYPT_LOG_N_MIN}..${SCRYPT_LOG_N_MAX}`)
    }
    if (bytes[OFF_R] !== SCRYPT_R || bytes[OFF_P] !== SCRYPT_P) {
      throw corrupt(`unsupported scrypt parameters r=${bytes[OFF_R]} p=${bytes[OFF_P]} (expected r=${SCRYPT_R} p=${SCRYPT_P})`)
    }
  }
  return { kind, name, publicKey, logN }
}

// ---------------------------------------------------------------------------------------------
// File system.

const isWindows = process.platform === 'win32' // no POSIX modes to check there

function errnoCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : 'unknown error'
}

function readFailure(err: unknown, path: string): TrothError {
  if (err instanceof TrothError) return err
  const code = errnoCode(err)
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return fail('keystore.not-found', path, 'no such file')
    case 'EACCES':
    case 'EPERM':
      return fail('keystore.permissions', path, 'permission denied reading the file')
    case 'EISDIR':
    case 'ELOOP':
      return fail('keystore.corrupt', path, 'not a regular file')
    default:
      return fail('keystore.io', path, `read failed (${code})`)
  }
}

function readKeystoreFile(path: string): Uint8Array {
  let fd: number
  try {
    // O_NONBLOCK: a FIFO planted at the path must not hang the node.
    fd = openSync(path, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0))
  } catch (err) {
    throw readFailure(err, path)
  }
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile()) throw fail('keystore.corrupt', path, 'not a regular file')
    if (!isWindows && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0')
      throw fail('keystore.permissions', path, `mode ${mode} lets group or others access the secret key; fix it with: chmod 600 ${path}`)
    }
    if (stat.size > KEYSTORE_FILE_BYTES_MAX) throw fail('keystore.corrupt', path, `file is too large (${stat.size} bytes) to be a keystore`)
    // Read at most one byte past the cap, whatever fstat said: the file may grow under us.
    const buffer = new Uint8Array(KEYSTORE_FILE_BYTES_MAX + 1)
    let length = 0
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null)
      if (n === 0) break
      length += n
    }
    if (length > KEYSTORE_FILE_BYTES_MAX) {
      buffer.fill(0)
      throw fail('keystore.corrupt', path, 'file is too large to be a keystore')
    }
    const bytes = buffer.slice(0, length)
    buffer.fill(0)
    return bytes
  } catch (err) {
    throw readFailure(err, path)
  } finally {
    closeSync(fd)
  }
}

function writeFailure(err: unknown, path: string): TrothError {
  if (err instanceof TrothError) return err
  const code = errnoCode(err)
  switch (code) {
    case 'EEXIST':
      return fail('keystore.exists', path, 'already exists; refusing to overwrite a keystore')
    case 'ENOENT':
    case 'ENOTDIR':
      return fail('keystore.not-found', path, `directory ${dirname(path)} does not exist`)
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return fail('keystore.permissions', path, `cannot write the file (${code})`)
    default:
      return fail('keystore.io', path, `write failed (${code})`)
  }
}

function writeExclusive(path: string, bytes: Uint8Array): void {
  let fd: number
  try {
    fd = openSync(path, 'wx', 0o600) // O_CREAT | O_EXCL: never follows or replaces anything
  } catch (err) {
    throw writeFailure(err, path)
  }
  let done = false
  try {
    if (!isWindows) fchmodSync(fd, 0o600) // the umask may have dropped bits; make it exactly 0600
    let written = 0
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written)
    fsyncSync(fd)
    if (!isWindows) {
      const mode = fstatSync(fd).mode & 0o777
      if (mode !== 0o600) throw fail('keystore.permissions', path, `file mode is ${mode.toString(8)} after creation, expected 600`)
    }
    done = true
  } catch (err) {
    throw writeFailure(err, path)
  } finally {
    closeSync(fd)
    if (!done) {
      try {
        unlinkSync(path) // we created it: leave no half-written keystore behind
      } catch {
        // already gone, or the directory forbids it: the create error below says what happened
      }
    }
  }
  syncDirectory(path)
}

/** fsync the directory so that the new directory entry survives a crash. */
function syncDirectory(path: string): void {
  if (isWindows) return // directories cannot be opened for fsync there
  let fd: number
  try {
    fd = openSync(dirname(path), 'r')
  } catch (err) {
    throw writeFailure(err, path)
  }
  try {
    fsyncSync(fd)
  } catch (err) {
    throw writeFailure(err, path)
  } finally {
    closeSync(fd)
  }
}
