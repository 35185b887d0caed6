// C2SP transparency-log text formats (DESIGN.md §3.2, notes/tlog.md §3): signed notes
// (c2sp.org/signed-note), checkpoints (tlog-checkpoint), timestamped Ed25519 cosignatures
// (tlog-cosignature), offline inclusion proofs (tlog-proof) and the append-only proof body of
// tlog-witness. Byte-exact, so standard transparency-log tooling reads what we write.
// Parsing is strict and throws a TrothError; a signature that does not verify returns false.

import { TrothError, assert, type ErrorCode } from '../errors.ts'
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, publicKeyOf, signRaw, verifyRaw } from '../identity/ed25519.ts'
import { HASH_BYTES, bytesEqual, sha256, toHex, fromHex } from './hash.ts'
import { EMPTY_ROOT } from './merkle.ts'

export const NOTE_BYTES_MAX = 1024 * 1024
/**
 * signed-note: verifiers must accept at least 16 signatures and should cap the count. A sealed
 * checkpoint carries the cosignatures of more than 2/3 of the epoch's weight, so the cap bounds
 * the validator set that can seal: 1,024 cosignatures (about 170 KB of note) seal for up to
 * 1,536 equal-weight validators (docs/consensus.md, "Checkpoints"). The old cap, 100, stopped
 * sealing above 150 validators.
 */
export const NOTE_SIGNATURES_MAX = 1024
/** tlog-witness: at most 63 consistency-proof lines; the same cap holds for tlog-proof. */
export const PROOF_HASHES_MAX = 63
export const KEY_ID_BYTES = 4
export const SIG_TYPE_ED25519 = 0x01
export const SIG_TYPE_COSIGNATURE_V1 = 0x04
export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1'
const TIMESTAMP_BYTES = 8
const SIGNATURE_PREFIX = '\u2014 ' // em dash, space

const encoder = new TextEncoder()

/** One signature line: `— <name> base64(keyId || signature)`. */
export interface NoteSignature {
  name: string
  keyId: Uint8Array
  signature: Uint8Array
}

export interface Note {
  text: string
  signatures: NoteSignature[]
}

export interface Checkpoint {
  origin: string
  size: number
  root: Uint8Array
  extensions: string[]
}

export interface TlogProof {
  extra?: Uint8Array
  index: number
  proof: Uint8Array[]
  /** The whole signed checkpoint note. */
  checkpoint: string
}

export interface ConsistencyBody {
  oldSize: number
  proof: Uint8Array[]
  /** The whole signed checkpoint note. */
  checkpoint: string
}

// --- shared strict parsing ---

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const DECIMAL = /^(?:0|[1-9][0-9]{0,15})$/
// signed-note: valid UTF-8 (no lone surrogates) and no ASCII control character but newline.
const FORBIDDEN_CHAR = /[\u0000-\u0009\u000b-\u001f]|\p{Cs}/u
const KEY_NAME_FORBIDDEN = /[\p{White_Space}+]/u

function fail(code: ErrorCode, message: string): never {
  throw new TrothError(code, message)
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

/** RFC 4648 §4 standard base64, padded, canonical (zero padding bits): one encoding per value. */
function decodeBase64(s: string, code: ErrorCode, what: string): Uint8Array {
  const bytes = BASE64.test(s) ? Buffer.from(s, 'base64') : undefined
  if (bytes === undefined || bytes.toString('base64') !== s) fail(code, `${what} is not canonical base64`)
  return new Uint8Array(bytes)
}

function decodeHash(s: string, code: ErrorCode, what: string): Uint8Array {
  const h = decodeBase64(s, code, what)
  if (h.length !== HASH_BYTES) fail(code, `${what} is ${h.length} bytes, not ${HASH_BYTES}`)
  return h
}

/** ASCII decimal, no leading zeros, at most 2^53 − 1. */
function parseCount(s: string, code: ErrorCode, what: string): number {
  const n = DECIMAL.test(s) ? Number(s) : NaN
  if (!Number.isSafeInteger(n)) fail(code, `${what} ${JSON.stringify(s.slice(0, 40))} is not a decimal integer below 2^53 without leading zeros`)
  return n
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

function isKeyName(name: string): boolean {
  return typeof name === 'string' && name.length > 0 && !KEY_NAME_FORBIDDEN.test(name) && !FORBIDDEN_CHAR.test(name)
}

/** Rules every note, and so every note text, obeys: non-empty, newline-terminated, valid UTF-8,
 * no ASCII control character other than newline (signed-note §Format), at most 1 MiB. */
function checkNoteText(text: string, code: ErrorCode, what: string): void {
  if (typeof text !== 'string' || text === '') fail(code, `${what} is empty`)
  if (text.length > NOTE_BYTES_MAX || Buffer.byteLength(text, 'utf8') > NOTE_BYTES_MAX) fail(code === 'note.malformed' ? 'note.too-large' : code, `${what} is larger than ${NOTE_BYTES_MAX} bytes`)
  if (!text.endsWith('\n')) fail(code, `${what} does not end with a newline`)
  if (FORBIDDEN_CHAR.test(text)) fail(code, `${what} has a control character other than newline, or a lone surrogate`)
}

// --- keys ---

/** signed-note: key ID = SHA-256(name || 0x0A || sigType || publicKey)[:4]. */
export function keyId(name: string, sigType: number, publicKey: Uint8Array): Uint8Array {
  return sha256(encoder.encode(name), Uint8Array.of(0x0a, sigType), publicKey).slice(0, KEY_ID_BYTES)
}

/** signed-note verifier key: `name+hex(keyId)+base64(sigType || publicKey)`. */
export function verifierKey(name: string, publicKey: Uint8Array, sigType: number = SIG_TYPE_ED25519): string {
  if (!isKeyName(name)) fail('id.invalid-key', `key name ${JSON.stringify(name)} is empty or has a space, '+' or control character`)
  if (sigType !== SIG_TYPE_ED25519 && sigType !== SIG_TYPE_COSIGNATURE_V1) fail('id.invalid-key', `unsupported signature type ${sigType}`)
  if (publicKey.length !== PUBLIC_KEY_BYTES) fail('id.invalid-key', `public key must be ${PUBLIC_KEY_BYTES} bytes`)
  return `${name}+${toHex(keyId(name, sigType, publicKey))}+${base64(Uint8Array.of(sigType, ...publicKey))}`
}

/** Parses an Ed25519 (0x01) or cosignature/v1 (0x04) verifier key; its key ID must match. */
export function parseVerifierKey(vkey: string): { name: string; keyId: Uint8Array; sigType: number; publicKey: Uint8Array } {
  const [name = '', id = '', key = '', ...rest] = vkey.split('+')
  // base64 may itself hold '+': everything after the second '+' is the key.
  const keyText = [key, ...rest].join('+')
  if (!isKeyName(name)) fail('id.invalid-key', 'verifier key has an invalid name')
  if (!/^[0-9a-f]{8}$/.test(id)) fail('id.invalid-key', 'verifier key ID is not 8 lowercase hex digits')
  const bytes = decodeBase64(keyText, 'id.invalid-key', 'verifier key')
  const sigType = bytes[0]
  if (sigType !== SIG_TYPE_ED25519 && sigType !== SIG_TYPE_COSIGNATURE_V1) fail('id.invalid-key', `unsupported signature type ${String(sigType)}`)
  const publicKey = bytes.slice(1)
  if (publicKey.length !== PUBLIC_KEY_BYTES) fail('id.invalid-key', `public key must be ${PUBLIC_KEY_BYTES} bytes`)
  if (!bytesEqual(fromHex(id), keyId(name, sigType, publicKey))) fail('id.invalid-key', 'verifier key ID does not match the name and key')
  return { name, keyId: fromHex(id), sigType, publicKey }
}

// --- signed notes (c2sp.org/signed-note) ---

function parseSignatureLine(line: string): NoteSignature {
  const parts = line.startsWith(SIGNATURE_PREFIX) ? line.slice(SIGNATURE_PREFIX.length).split(' ') : []
  const [name, sig] = parts
  if (parts.length !== 2 || name === undefined || sig === undefined) fail('note.malformed', `signature line ${JSON.stringify(line.slice(0, 80))} is not "— <name> <base64>"`)
  if (!isKeyName(name)) fail('note.malformed', `signature key name ${JSON.stringify(name.slice(0, 80))} is empty or has a space or '+'`)
  const bytes = decodeBase64(sig, 'note.malformed', `signature of ${name}`)
  if (bytes.length <= KEY_ID_BYTES) fail('note.malformed', `signature of ${name} is shorter than a key ID and one byte`)
  return { name, keyId: bytes.slice(0, KEY_ID_BYTES), signature: bytes.slice(KEY_ID_BYTES) }
}

/** Splits a signed note at its last blank line and parses every signature line. */
export function parseNote(note: string): Note {
  if (typeof note !== 'string') fail('note.malformed', 'note is not a string')
  checkNoteText(note, 'note.malformed', 'note')
  const split = note.lastIndexOf('\n\n')
  if (split < 0) fail('note.malformed', 'note has no blank line before its signatures')
  const text = note.slice(0, split + 1)
  const lines = note.slice(split + 2, -1)
  if (lines === '') fail('note.malformed', 'note has no signatures')
  const sigLines = lines.split('\n')
  if (sigLines.length > NOTE_SIGNATURES_MAX) fail('note.too-large', `note has ${sigLines.length} signatures, more than ${NOTE_SIGNATURES_MAX}`)
  return { text, signatures: sigLines.map(parseSignatureLine) }
}

export function formatNote(text: string, signatures: readonly NoteSignature[]): string {
  checkNoteText(text, 'note.malformed', 'note text')
  if (signatures.length === 0) fail('note.malformed', 'a note needs at least one signature')
  if (signatures.length > NOTE_SIGNATURES_MAX) fail('note.too-large', `more than ${NOTE_SIGNATURES_MAX} signatures`)
  const lines = signatures.map(({ name, keyId: id, signature }) => {
    if (!isKeyName(name)) fail('note.malformed', `key name ${JSON.stringify(name)} is empty or has a space or '+'`)
    if (id.length !== KEY_ID_BYTES || signature.length === 0) fail('note.malformed', `signature of ${name} needs a ${KEY_ID_BYTES}-byte key ID and a signature`)
    const bytes = new Uint8Array(KEY_ID_BYTES + signature.length)
    bytes.set(id)
    bytes.set(signature, KEY_ID_BYTES)
    return `${SIGNATURE_PREFIX}${name} ${base64(bytes)}\n`
  })
  const note = `${text}\n${lines.join('')}`
  if (Buffer.byteLength(note, 'utf8') > NOTE_BYTES_MAX) fail('note.too-large', `note is larger than ${NOTE_BYTES_MAX} bytes`)
  return note
}

/** A plain Ed25519 note signature (type 0x01): RFC 8032 over the note text. */
export function signNote(seed: Uint8Array, name: string, text: string): NoteSignature {
  checkNoteText(text, 'note.malformed', 'note text')
  if (!isKeyName(name)) fail('note.malformed', `key name ${JSON.stringify(name)} is empty or has a space or '+'`)
  return { name, keyId: keyId(name, SIG_TYPE_ED25519, publicKeyOf(seed)), signature: signRaw(seed, encoder.encode(text)) }
}

/** True iff `sig` is `name`'s type-0x01 signature of `text` under `publicKey`. */
export function verifyNoteSignature(publicKey: Uint8Array, name: string, text: string, sig: NoteSignature): boolean {
  if (sig.name !== name || !bytesEqual(sig.keyId, keyId(name, SIG_TYPE_ED25519, publicKey))) return false
  return verifyRaw(publicKey, encoder.encode(text), sig.signature)
}

// --- cosignatures (c2sp.org/tlog-cosignature, Ed25519 cosignature/v1) ---

function cosignatureMessage(timestampSec: number, body: string): Uint8Array {
  return encoder.encode(`cosignature/v1\ntime ${timestampSec}\n${body}`)
}

/** Cosigns a checkpoint body (type 0x04): signature bytes = u64be(timestamp) || Ed25519 sig. */
export function cosign(seed: Uint8Array, name: string, timestampSec: number, body: string): NoteSignature {
  assert(isCount(timestampSec), 'a cosignature timestamp is a safe non-negative integer of seconds')
  parseCheckpoint(body) // we only ever cosign a well-formed checkpoint
  if (!isKeyName(name)) fail('note.malformed', `key name ${JSON.stringify(name)} is empty or has a space or '+'`)
  const signature = new Uint8Array(TIMESTAMP_BYTES + SIGNATURE_BYTES)
  new DataView(signature.buffer).setBigUint64(0, BigInt(timestampSec))
  signature.set(signRaw(seed, cosignatureMessage(timestampSec, body)), TIMESTAMP_BYTES)
  return { name, keyId: keyId(name, SIG_TYPE_COSIGNATURE_V1, publicKeyOf(seed)), signature }
}

/** Checks `name`'s cosignature/v1 of `body` under `publicKey`. `timestamp` (seconds since the
 * epoch) is 0 unless ok: an unverified time is never reported. */
export function verifyCosignature(publicKey: Uint8Array, name: string, body: string, sig: NoteSignature): { ok: boolean; timestamp: number } {
  const no = { ok: false, timestamp: 0 }
  if (sig.name !== name || sig.signature.length !== TIMESTAMP_BYTES + SIGNATURE_BYTES) return no
  if (!bytesEqual(sig.keyId, keyId(name, SIG_TYPE_COSIGNATURE_V1, publicKey))) return no
  const view = new DataView(sig.signature.buffer, sig.signature.byteOffset, TIMESTAMP_BYTES)
  const timestamp = view.getBigUint64(0)
  if (timestamp > BigInt(Number.MAX_SAFE_INTEGER)) return no
  const ok = verifyRaw(publicKey, cosignatureMessage(Number(timestamp), body), sig.signature.subarray(TIMESTAMP_BYTES))
  return ok ? { ok, timestamp: Number(timestamp) } : no
}

// --- checkpoints (c2sp.org/tlog-checkpoint) ---

function checkCheckpoint(c: Checkpoint): void {
  const bad = (m: string): never => fail('checkpoint.malformed', m)
  if (typeof c.origin !== 'string' || c.origin.trim() === '' || c.origin.includes('\n')) bad('origin is empty, blank or has a newline')
  if (!isCount(c.size)) bad(`size ${String(c.size)} is not an integer in [0, 2^53)`)
  if (!(c.root instanceof Uint8Array) || c.root.length !== HASH_BYTES) bad(`root is not ${HASH_BYTES} bytes`)
  if (c.size === 0 && !bytesEqual(c.root, EMPTY_ROOT)) bad('an empty tree has root SHA-256("")')
  for (const e of c.extensions) if (e === '' || e.includes('\n')) bad('an extension line is empty or has a newline')
}

/** `origin\nsize\nbase64(root)\n` then any extension lines (NOT RECOMMENDED by the spec). */
export function formatCheckpoint(c: { origin: string; size: number; root: Uint8Array; extensions?: readonly string[] }): string {
  const checkpoint = { origin: c.origin, size: c.size, root: c.root, extensions: [...(c.extensions ?? [])] }
  checkCheckpoint(checkpoint)
  const body = [c.origin, String(c.size), base64(c.root), ...checkpoint.extensions].join('\n') + '\n'
  checkNoteText(body, 'checkpoint.malformed', 'checkpoint')
  return body
}

export function parseCheckpoint(body: string): Checkpoint {
  checkNoteText(body, 'checkpoint.malformed', 'checkpoint')
  const [origin = '', size = '', root = '', ...extensions] = body.slice(0, -1).split('\n')
  if (root === '') fail('checkpoint.malformed', 'checkpoint needs origin, size and root lines')
  const checkpoint = { origin, size: parseCount(size, 'checkpoint.malformed', 'size'), root: decodeHash(root, 'checkpoint.malformed', 'root'), extensions }
  checkCheckpoint(checkpoint)
  return checkpoint
}

// --- tlog-proof and the tlog-witness add-checkpoint body ---

/** Checks that `note` is a signed checkpoint note, reporting any flaw as `proof.malformed`. */
function checkSignedCheckpoint(note: string): void {
  try {
    parseCheckpoint(parseNote(note).text)
  } catch (e) {
    if (e instanceof TrothError) throw new TrothError('proof.malformed', `checkpoint: ${e.message}`, { cause: e })
    throw e
  }
}

function hashLines(proof: readonly Uint8Array[]): string {
  if (proof.length > PROOF_HASHES_MAX) fail('proof.malformed', `more than ${PROOF_HASHES_MAX} proof hashes`)
  return proof.map((h) => (h.length === HASH_BYTES ? `${base64(h)}\n` : fail('proof.malformed', `a proof hash is not ${HASH_BYTES} bytes`))).join('')
}

/** Splits `<header lines>\n\n<signed checkpoint>` at its first blank line. */
function splitProofText(text: string, bytesMax: number): { lines: string[]; checkpoint: string } {
  if (typeof text !== 'string') fail('proof.malformed', 'proof is not a string')
  if (text.length > bytesMax || Buffer.byteLength(text, 'utf8') > bytesMax) fail('proof.malformed', `proof is larger than ${bytesMax} bytes`)
  const split = text.indexOf('\n\n')
  if (split < 0) fail('proof.malformed', 'no blank line before the checkpoint')
  const checkpoint = text.slice(split + 2)
  checkSignedCheckpoint(checkpoint)
  return { lines: text.slice(0, split).split('\n'), checkpoint }
}

function parseHashLines(lines: string[]): Uint8Array[] {
  if (lines.length > PROOF_HASHES_MAX) fail('proof.malformed', `${lines.length} proof hashes, more than ${PROOF_HASHES_MAX}`)
  return lines.map((l, i) => decodeHash(l, 'proof.malformed', `proof hash ${i}`))
}

/** c2sp.org/tlog-proof@v1: header, optional `extra`, `index N`, inclusion proof, blank line,
 * signed checkpoint. Empty extra data is written as no `extra` line. The whole proof is at most
 * `bytesMax` bytes (1 MiB unless a caller carries a large `extra`, as troth's audit proofs do). */
export function formatTlogProof(p: { extra?: Uint8Array; index: number; proof: readonly Uint8Array[]; checkpoint: string }, bytesMax = NOTE_BYTES_MAX): string {
  if (!isCount(p.index)) fail('proof.malformed', `index ${String(p.index)} is not an integer in [0, 2^53)`)
  checkSignedCheckpoint(p.checkpoint)
  const extra = p.extra !== undefined && p.extra.length > 0 ? `extra ${base64(p.extra)}\n` : ''
  const text = `${TLOG_PROOF_HEADER}\n${extra}index ${p.index}\n${hashLines(p.proof)}\n${p.checkpoint}`
  if (Buffer.byteLength(text, 'utf8') > bytesMax) fail('proof.malformed', `proof is larger than ${bytesMax} bytes`)
  return text
}

export function parseTlogProof(text: string, bytesMax = NOTE_BYTES_MAX): TlogProof {
  const { lines, checkpoint } = splitProofText(text, bytesMax)
  if (lines[0] !== TLOG_PROOF_HEADER) fail('proof.malformed', `first line is not ${TLOG_PROOF_HEADER}`)
  let next = 1
  let extra: Uint8Array | undefined
  if (lines[next]?.startsWith('extra ') === true) {
    extra = decodeBase64((lines[next] as string).slice('extra '.length), 'proof.malformed', 'extra data')
    if (extra.length === 0) fail('proof.malformed', 'extra line with no data')
    next++
  }
  const indexLine = lines[next] ?? ''
  if (!indexLine.startsWith('index ')) fail('proof.malformed', 'no "index N" line')
  const index = parseCount(indexLine.slice('index '.length), 'proof.malformed', 'index')
  const proof = parseHashLines(lines.slice(next + 1))
  return extra === undefined ? { index, proof, checkpoint } : { extra, index, proof, checkpoint }
}

/** tlog-witness add-checkpoint body: `old N`, 0..63 consistency-proof lines, blank line,
 * signed checkpoint. */
export function formatConsistencyBody(b: { oldSize: number; proof: readonly Uint8Array[]; checkpoint: string }): string {
  if (!isCount(b.oldSize)) fail('proof.malformed', `old size ${String(b.oldSize)} is not an integer in [0, 2^53)`)
  checkSignedCheckpoint(b.checkpoint)
  return `old ${b.oldSize}\n${hashLines(b.proof)}\n${b.checkpoint}`
}

export function parseConsistencyBody(text: string): ConsistencyBody {
  const { lines, checkpoint } = splitProofText(text, NOTE_BYTES_MAX)
  const oldLine = lines[0] ?? ''
  if (!oldLine.startsWith('old ')) fail('proof.malformed', 'first line is not "old N"')
  return { oldSize: parseCount(oldLine.slice('old '.length), 'proof.malformed', 'old size'), proof: parseHashLines(lines.slice(1)), checkpoint }
}
