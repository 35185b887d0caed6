// An auditor's verifier written in the test from the specs alone, sharing no code with troth:
// c2sp.org/tlog-proof, signed-note, tlog-checkpoint and tlog-cosignature (cosignature/v1), and
// RFC 9162 §2.1.3.2 for inclusion. node:crypto does SHA-256 and Ed25519, cborg reads CBOR, and
// the MemberId spelling (docs/entries.md: "troth1" + RFC 4648 base32, lowercase, no padding) is
// transcribed here. What it accepts, standard transparency-log tooling would.

import { createHash, createPublicKey, verify } from 'node:crypto'
import { decode } from 'cborg'

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}

/** RFC 4648 §6 base32, lowercase, unpadded; "troth1" in front (docs/entries.md). */
export function memberIdOf(key: Uint8Array): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  let bits = ''
  for (const b of key) bits += b.toString(2).padStart(8, '0')
  while (bits.length % 5 !== 0) bits += '0'
  let out = 'troth1'
  for (let i = 0; i < bits.length; i += 5) out += alphabet[parseInt(bits.slice(i, i + 5), 2)]
  return out
}

function ed25519Key(raw: Uint8Array): ReturnType<typeof createPublicKey> {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' })
}

/** signed-note: text up to the last blank line; signature lines "— name base64". */
export function splitNote(note: string): { text: string; sigs: Array<{ name: string; bytes: Buffer }> } {
  const cut = note.lastIndexOf('\n\n')
  if (cut < 0 || !note.endsWith('\n')) throw new Error('not a signed note')
  const text = note.slice(0, cut + 1)
  const sigs = note
    .slice(cut + 2, -1)
    .split('\n')
    .map((line) => {
      const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line)
      if (m === null) throw new Error(`bad signature line ${line}`)
      return { name: m[1] as string, bytes: Buffer.from(m[2] as string, 'base64') }
    })
  return { text, sigs }
}

/** signed-note Ed25519 (type 0x01): key ID = SHA-256(name || "\n" || 0x01 || key)[:4], the
 * signature over the text. */
export function verifyEd25519Note(note: string, name: string, key: Uint8Array): boolean {
  const { text, sigs } = splitNote(note)
  const id = sha256(Buffer.from(`${name}\n`), Uint8Array.of(0x01), key).subarray(0, 4)
  return sigs.some((s) => s.name === name && s.bytes.subarray(0, 4).equals(id) && verify(null, Buffer.from(text), ed25519Key(key), s.bytes.subarray(4)))
}

/** tlog-cosignature: key ID = SHA-256(name || "\n" || 0x04 || key)[:4]; bytes = key ID, u64 time,
 * Ed25519 over "cosignature/v1\ntime <t>\n" + checkpoint body. Returns the cosigners that verify. */
export function cosigners(note: string, keys: ReadonlyMap<string, Uint8Array>): string[] {
  const { text, sigs } = splitNote(note)
  const ok = new Set<string>()
  for (const s of sigs) {
    const key = keys.get(s.name)
    if (key === undefined || s.bytes.length !== 76) continue
    const id = sha256(Buffer.from(`${s.name}\n`), Uint8Array.of(0x04), key).subarray(0, 4)
    if (!s.bytes.subarray(0, 4).equals(id)) continue
    const time = s.bytes.readBigUInt64BE(4)
    const msg = Buffer.from(`cosignature/v1\ntime ${time}\n${text}`)
    if (verify(null, msg, ed25519Key(key), s.bytes.subarray(12))) ok.add(s.name)
  }
  return [...ok]
}

/** RFC 9162 §2.1.3.2, in BigInt. */
export function inclusionOk(index: bigint, size: bigint, leaf: Uint8Array, proof: readonly Buffer[], root: Uint8Array): boolean {
  if (index >= size) return false
  let fn = index
  let sn = size - 1n
  let r: Buffer = Buffer.from(leaf)
  for (const p of proof) {
    if (sn === 0n) return false
    if ((fn & 1n) === 1n || fn === sn) {
      r = sha256(Uint8Array.of(1), p, r)
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n
        sn >>= 1n
      }
    } else {
      r = sha256(Uint8Array.of(1), r, p)
    }
    fn >>= 1n
    sn >>= 1n
  }
  return sn === 0n && r.equals(Buffer.from(root))
}

export interface SpecVerdict {
  readonly origin: string
  readonly size: bigint
  readonly index: bigint
  readonly cosigners: string[]
  readonly included: boolean
  /** Cosigners are more than 2/3 of `members` (each of equal weight). */
  readonly quorum: boolean
  readonly entry: Uint8Array
}

/** Reads a tlog-proof whose extra is troth's CBOR { format, entry, chain }, and checks the
 * checkpoint's cosignatures against `members` (MemberId → key) and the entry's inclusion. */
export function specVerify(proof: string, members: ReadonlyMap<string, Uint8Array>): SpecVerdict {
  const head = proof.slice(0, proof.indexOf('\n\n'))
  const note = proof.slice(proof.indexOf('\n\n') + 2)
  const lines = head.split('\n')
  if (lines[0] !== 'c2sp.org/tlog-proof@v1') throw new Error('not a tlog-proof')
  let i = 1
  let extra: Uint8Array | undefined
  if (lines[i]?.startsWith('extra ') === true) extra = Buffer.from((lines[i++] as string).slice(6), 'base64')
  const m = /^index (0|[1-9][0-9]*)$/.exec(lines[i++] ?? '')
  if (m === null) throw new Error('no index line')
  const index = BigInt(m[1] as string)
  const path = lines.slice(i).map((l) => Buffer.from(l, 'base64'))
  const { text } = splitNote(note)
  const [origin, size, root] = text.slice(0, -1).split('\n') as [string, string, string]
  if (extra === undefined) throw new Error('no extra: the entry bytes are not in the proof')
  const { entry } = decode(extra, { useMaps: false }) as { entry: Uint8Array }
  const leaf = sha256(Uint8Array.of(0), entry)
  const names = cosigners(note, members)
  return {
    origin,
    size: BigInt(size),
    index,
    cosigners: names,
    included: inclusionOk(index, BigInt(size), leaf, path, Buffer.from(root, 'base64')),
    quorum: 3 * names.length > 2 * members.size,
    entry,
  }
}

/** The founders of a genesis file (canonical CBOR: { founders: [{ key, name, request }], ... }),
 * as MemberId → key. */
export function foundersOf(genesis: Uint8Array): Map<string, Uint8Array> {
  const g = decode(genesis, { useMaps: false }) as { founders: Array<{ key: Uint8Array }> }
  return new Map(g.founders.map((f) => [memberIdOf(f.key), f.key]))
}
