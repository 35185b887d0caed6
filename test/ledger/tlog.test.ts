// C2SP formats: the signed-note example vector, cosignatures checked against an independent
// transcription of tlog-cosignature built on node:crypto, round trips, and negative sweeps.

import { createHash, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { TrothError, type ErrorCode } from '../../src/errors.ts'
import { generateSeed, publicKeyOf } from '../../src/identity/ed25519.ts'
import { formatMemberId } from '../../src/identity/member-id.ts'
import { sha256, toHex } from '../../src/ledger/hash.ts'
import { EMPTY_ROOT } from '../../src/ledger/merkle.ts'
import {
  NOTE_BYTES_MAX,
  NOTE_SIGNATURES_MAX,
  PROOF_HASHES_MAX,
  cosign,
  formatCheckpoint,
  formatConsistencyBody,
  formatNote,
  formatTlogProof,
  keyId,
  parseCheckpoint,
  parseConsistencyBody,
  parseNote,
  parseTlogProof,
  parseVerifierKey,
  signNote,
  verifierKey,
  verifyCosignature,
  verifyNoteSignature,
  type NoteSignature,
} from '../../src/ledger/tlog.ts'

function throwsCode(f: () => unknown, code: ErrorCode): void {
  let thrown: unknown
  try {
    f()
  } catch (e) {
    thrown = e
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(TrothError)
  expect((thrown as TrothError).code).toBe(code)
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64')
const hash = (label: string): Uint8Array => sha256(new TextEncoder().encode(label))

// --- c2sp.org/signed-note example (also in golang.org/x/mod/sumdb/note) ---

const EXAMPLE_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k'
const EXAMPLE_TEXT = 'This is an example message.\n'
const EXAMPLE_NOTE = `${EXAMPLE_TEXT}\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n`

describe('signed-note example vector', () => {
  it('parses the verifier key and reproduces it', () => {
    const key = parseVerifierKey(EXAMPLE_VKEY)
    expect(key.name).toBe('example.com/foo')
    expect(toHex(key.keyId)).toBe('530d903a')
    expect(key.sigType).toBe(0x01)
    expect(toHex(key.publicKey)).toBe('e932791ae6e7a840a46164c904786426d5e7821dd8b29a00d61cae72afdd4da4')
    expect(verifierKey(key.name, key.publicKey)).toBe(EXAMPLE_VKEY)
    expect(keyId(key.name, 0x01, key.publicKey)).toEqual(key.keyId)
  })

  it('verifies, and fails on a modified text, name or key ID', () => {
    const { name, publicKey } = parseVerifierKey(EXAMPLE_VKEY)
    const note = parseNote(EXAMPLE_NOTE)
    expect(note.text).toBe(EXAMPLE_TEXT)
    expect(note.signatures).toHaveLength(1)
    const sig = note.signatures[0] as NoteSignature
    expect(verifyNoteSignature(publicKey, name, note.text, sig)).toBe(true)
    expect(verifyNoteSignature(publicKey, name, 'This is an example message!\n', sig)).toBe(false)
    expect(verifyNoteSignature(publicKey, name, `${EXAMPLE_TEXT}\n`, sig)).toBe(false)
    expect(verifyNoteSignature(publicKey, 'example.com/bar', note.text, { ...sig, name: 'example.com/bar' })).toBe(false)
    expect(verifyNoteSignature(publicKey, name, note.text, { ...sig, keyId: Uint8Array.of(0, 0, 0, 0) })).toBe(false)
    expect(formatNote(note.text, note.signatures)).toBe(EXAMPLE_NOTE)
  })

  it('signNote produces signatures verifyNoteSignature accepts, under the example key type', () => {
    const seed = generateSeed()
    const sig = signNote(seed, 'troth.example/node', EXAMPLE_TEXT)
    expect(sig.keyId).toEqual(keyId('troth.example/node', 0x01, publicKeyOf(seed)))
    expect(verifyNoteSignature(publicKeyOf(seed), 'troth.example/node', EXAMPLE_TEXT, sig)).toBe(true)
    const note = formatNote(EXAMPLE_TEXT, [sig])
    expect(parseNote(note)).toEqual({ text: EXAMPLE_TEXT, signatures: [sig] })
  })
})

// --- tlog-cosignature, checked against the spec transcribed here with node:crypto only ---

/** tlog-cosignature §Ed25519 signed message, written from the spec without src/. */
function specMessage(timestamp: bigint, body: string): Buffer {
  return Buffer.concat([Buffer.from('cosignature/v1\n', 'ascii'), Buffer.from(`time ${timestamp.toString(10)}\n`, 'ascii'), Buffer.from(body, 'utf8')])
}

function specKeyId(name: string, publicKey: Uint8Array): Buffer {
  return createHash('sha256').update(Buffer.from(name, 'utf8')).update(Buffer.from([0x0a, 0x04])).update(publicKey).digest().subarray(0, 4)
}

const jwkPublic = (publicKey: Uint8Array) => createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' })

const BODY = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'

describe('cosignature/v1', () => {
  it('round trips and matches an independent implementation byte for byte', () => {
    const seed = generateSeed()
    const pub = publicKeyOf(seed)
    const name = 'witness.example.com/w1'
    const sig = cosign(seed, name, 1_679_315_147, BODY)
    expect(verifyCosignature(pub, name, BODY, sig)).toEqual({ ok: true, timestamp: 1_679_315_147 })

    const line = formatNote(BODY, [sig]).split('\n\n')[1] as string
    const [dash, lineName, encoded] = line.trimEnd().split(' ')
    expect(dash).toBe('\u2014')
    expect(lineName).toBe(name)
    const raw = Buffer.from(encoded as string, 'base64')
    expect(raw.length).toBe(76)
    expect(raw.subarray(0, 4).equals(specKeyId(name, pub))).toBe(true)
    const timestamp = raw.readBigUInt64BE(4)
    expect(timestamp).toBe(1_679_315_147n)
    expect(nodeVerify(null, specMessage(timestamp, BODY), jwkPublic(pub), raw.subarray(12))).toBe(true)
    expect(nodeVerify(null, specMessage(timestamp + 1n, BODY), jwkPublic(pub), raw.subarray(12))).toBe(false)
  })

  it('accepts a cosignature made independently with node:crypto', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    const pub = new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url'))
    const name = 'w2.example'
    const ts = Buffer.alloc(8)
    ts.writeBigUInt64BE(1_700_000_000n)
    const signature = new Uint8Array(Buffer.concat([ts, nodeSign(null, specMessage(1_700_000_000n, BODY), privateKey)]))
    const sig: NoteSignature = { name, keyId: new Uint8Array(specKeyId(name, pub)), signature }
    expect(verifyCosignature(pub, name, BODY, sig)).toEqual({ ok: true, timestamp: 1_700_000_000 })
    const note = `${BODY}\n\u2014 ${name} ${Buffer.concat([specKeyId(name, pub), signature]).toString('base64')}\n`
    const parsed = parseNote(note)
    expect(verifyCosignature(pub, name, parsed.text, parsed.signatures[0] as NoteSignature).ok).toBe(true)
  })

  it('parses the tlog-cosignature spec example', () => {
    const note = parseNote(
      `${BODY}\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n` +
        '— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n',
    )
    expect(parseCheckpoint(note.text)).toMatchObject({ origin: 'example.com/behind-the-sofa', size: 20_852_163, extensions: [] })
    const cosig = note.signatures[1] as NoteSignature
    expect(toHex(cosig.keyId)).toBe('8d66cf3f')
    expect(cosig.signature.length).toBe(72)
    expect(Buffer.from(cosig.signature).readBigUInt64BE(0)).toBe(1_679_315_147n) // the spec's "time 1679315147"
  })

  it('fails for every wrong input', () => {
    const seed = generateSeed()
    const pub = publicKeyOf(seed)
    const sig = cosign(seed, 'w', 1000, BODY)
    const no = { ok: false, timestamp: 0 }
    expect(verifyCosignature(pub, 'v', BODY, { ...sig, name: 'v' })).toEqual(no)
    expect(verifyCosignature(pub, 'w', BODY.replace('20852163', '20852164'), sig)).toEqual(no)
    expect(verifyCosignature(publicKeyOf(generateSeed()), 'w', BODY, sig)).toEqual(no)
    expect(verifyCosignature(pub, 'w', BODY, { ...sig, keyId: keyId('w', 0x01, pub) })).toEqual(no)
    expect(verifyCosignature(pub, 'w', BODY, { ...sig, signature: sig.signature.subarray(0, 71) })).toEqual(no)
    const later = sig.signature.slice()
    later[7] = 1001 % 256
    expect(verifyCosignature(pub, 'w', BODY, { ...sig, signature: later })).toEqual(no)
    const huge = sig.signature.slice()
    huge[0] = 0xff
    expect(verifyCosignature(pub, 'w', BODY, { ...sig, signature: huge })).toEqual(no)
    // A type-0x01 note signature is not a cosignature, nor the reverse.
    const plain = signNote(seed, 'w', BODY)
    expect(verifyCosignature(pub, 'w', BODY, plain)).toEqual(no)
    expect(verifyNoteSignature(pub, 'w', BODY, sig)).toBe(false)
  })

  it('refuses to cosign what is not a checkpoint', () => {
    const seed = generateSeed()
    throwsCode(() => cosign(seed, 'w', 1, 'not a checkpoint\n'), 'checkpoint.malformed')
    throwsCode(() => cosign(seed, 'w+1', 1, BODY), 'note.malformed')
    expect(() => cosign(seed, 'w', -1, BODY)).toThrow()
    expect(() => cosign(seed, 'w', 2 ** 53, BODY)).toThrow()
  })
})

// --- golden bytes: the example in docs/merkle.md (Ed25519 is deterministic) ---

describe('docs/merkle.md example', () => {
  it('reproduces the documented checkpoint body and cosignature line byte for byte', () => {
    const seed = sha256(new TextEncoder().encode('troth docs/merkle.md example member'))
    const name = 'troth1lpanjzrh2moxbcy2th5pglzrq36pr4y4icfpaowap3pi6aonbktq'
    const origin = 'troth/example/8a2ab426baa2071ed2a8efd26b201ab9ac21e4df70aad66ddb656d37f40db712'
    const root = Buffer.from('4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4', 'hex')
    const body = formatCheckpoint({ origin, size: 5, root })
    expect(body).toBe(`${origin}\n5\nTju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=\n`)
    expect(verifierKey(name, publicKeyOf(seed), 0x04)).toBe(`${name}+fabfd84b+BFvA1OYn0x1wixqZ+vMvMYb8+PMcQIrwOsB+3o8BzQqn`)
    const note = formatNote(body, [cosign(seed, name, 1_767_225_600, body)])
    expect(note).toBe(`${body}\n— ${name} +r/YSwAAAABpVbkAA60zDWIo/VSOJL4cG37pt4gihw6NNNMmCgjBVHpuWZbCPaCNdXGJDJ8pUut57r62SZJXUj+GyzKWDEpCDi18DA==\n`)
  })
})

// --- checkpoints ---

describe('checkpoints', () => {
  it('reproduces the golang.org/x/mod sumdb golden checkpoint', () => {
    const body = 'go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n'
    const c = parseCheckpoint(body)
    expect(c.origin).toBe('go.sum database tree')
    expect(c.size).toBe(123_456_789_012)
    expect(c.extensions).toEqual([])
    expect(formatCheckpoint(c)).toBe(body)
  })

  it('round trips, extension lines included', () => {
    const arbLine = fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !/[\u0000-\u001f]/.test(s) && s.trim() !== '')
    fc.assert(
      fc.property(arbLine, fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.array(arbLine, { maxLength: 3 }), (origin, size, root, extensions) => {
        const r = size === 0 ? EMPTY_ROOT : root
        const body = formatCheckpoint({ origin, size, root: r, extensions })
        expect(parseCheckpoint(body)).toEqual({ origin, size, root: r, extensions })
      }),
    )
  })

  it('rejects every malformed body with checkpoint.malformed', () => {
    const root = b64(hash('root'))
    const bad = [
      '',
      'origin\n5\n',
      `origin\n5\n${root}`, // no final newline
      `\n5\n${root}\n`, // empty origin
      ` \t\n5\n${root}\n`,
      `   \n5\n${root}\n`, // whitespace-only origin
      `origin\n05\n${root}\n`, // leading zero
      `origin\n+5\n${root}\n`,
      `origin\n-0\n${root}\n`,
      `origin\n5.0\n${root}\n`,
      `origin\n 5\n${root}\n`,
      `origin\n9007199254740992\n${root}\n`, // 2^53
      `origin\n5\n${b64(hash('root').subarray(0, 31))}\n`, // 31-byte root
      `origin\n5\n${b64(new Uint8Array(33))}\n`,
      `origin\n5\n${root.slice(0, -1)}\n`, // no padding
      `origin\n5\n${root}\n\n`, // empty extension line
      `origin\n5\n${root}\r\n`,
      `origin\n0\n${root}\n`, // size 0 with a root other than SHA-256("")
    ]
    for (const body of bad) throwsCode(() => parseCheckpoint(body), 'checkpoint.malformed')
    throwsCode(() => formatCheckpoint({ origin: 'o', size: 1, root: new Uint8Array(31) }), 'checkpoint.malformed')
    throwsCode(() => formatCheckpoint({ origin: 'o\nx', size: 1, root: hash('r') }), 'checkpoint.malformed')
    throwsCode(() => formatCheckpoint({ origin: 'o', size: -1, root: hash('r') }), 'checkpoint.malformed')
    throwsCode(() => formatCheckpoint({ origin: 'o', size: 1, root: hash('r'), extensions: [''] }), 'checkpoint.malformed')
    expect(parseCheckpoint(`origin\n0\n${b64(EMPTY_ROOT)}\n`).size).toBe(0)
  })
})

// --- signed notes: round trips and negative sweeps ---

const arbName = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/[\p{White_Space}+\u0000-\u001f]/u.test(s))
const arbText = fc.string({ unit: 'binary', maxLength: 200 }).map((s) => `${s.replace(/[\u0000-\u0009\u000b-\u001f]/g, '')}\n`)
const arbSig = fc.record({ name: arbName, keyId: fc.uint8Array({ minLength: 4, maxLength: 4 }), signature: fc.uint8Array({ minLength: 1, maxLength: 80 }) })

describe('signed notes', () => {
  it('format then parse is the identity, blank lines in the text included', () => {
    fc.assert(
      fc.property(arbText, fc.array(arbSig, { minLength: 1, maxLength: 5 }), (text, signatures) => {
        expect(parseNote(formatNote(text, signatures))).toEqual({ text, signatures })
      }),
    )
  })

  it('splits at the last blank line', () => {
    const note = parseNote('para 1\n\npara 2\n\n— a AAAAAAA=\n')
    expect(note.text).toBe('para 1\n\npara 2\n')
  })

  it('accepts exactly NOTE_SIGNATURES_MAX signatures', () => {
    const line = '— a AAAAAAA=\n'
    expect(parseNote(`t\n\n${line.repeat(NOTE_SIGNATURES_MAX)}`).signatures).toHaveLength(NOTE_SIGNATURES_MAX)
    throwsCode(() => parseNote(`t\n\n${line.repeat(NOTE_SIGNATURES_MAX + 1)}`), 'note.too-large')
    throwsCode(() => formatNote('t\n', Array.from({ length: NOTE_SIGNATURES_MAX + 1 }, () => ({ name: 'a', keyId: new Uint8Array(4), signature: new Uint8Array(1) }))), 'note.too-large')
  })

  it('a checkpoint cosigned by a quorum of 1,536 equal validators (1,025 MemberId-named cosignatures) is refused, 1,024 fit in a note', () => {
    // The cap bounds the validator set that can seal (docs/consensus.md, "Checkpoints").
    const body = formatCheckpoint({ origin: 'troth/coop/00', size: 5, root: sha256(new Uint8Array([1])) })
    const seed = generateSeed()
    const name = formatMemberId(publicKeyOf(seed))
    const one = cosign(seed, name, 1_700_000_000, body)
    expect(verifyCosignature(publicKeyOf(seed), name, body, one).ok).toBe(true)
    const note = formatNote(body, Array.from({ length: NOTE_SIGNATURES_MAX }, () => one))
    expect(Buffer.byteLength(note)).toBeLessThan(NOTE_BYTES_MAX / 4)
    expect(parseNote(note).signatures).toHaveLength(1024)
    throwsCode(() => formatNote(body, Array.from({ length: Math.floor((2 * 1536) / 3) + 1 }, () => one)), 'note.too-large')
  })

  it('rejects an oversized note with note.too-large', () => {
    const text = `${'x'.repeat(NOTE_BYTES_MAX)}\n`
    throwsCode(() => parseNote(`${text}\n— a AAAAAAA=\n`), 'note.too-large')
    throwsCode(() => formatNote(text, [{ name: 'a', keyId: new Uint8Array(4), signature: new Uint8Array(1) }]), 'note.too-large')
    // Counted in UTF-8 bytes, not UTF-16 units: 350k three-byte characters are over 1 MiB.
    throwsCode(() => parseNote(`${'\u2014'.repeat(350_000)}\n\n— a AAAAAAA=\n`), 'note.too-large')
  })

  it('rejects every malformed note with note.malformed', () => {
    const sig = 'AAAAAAA=' // 5 bytes: key ID and one signature byte
    const bad = [
      '',
      'text\n— a AAAAAAA=\n', // missing blank line
      'text\n\n', // no signatures
      'text\n\n— a AAAAAAA=', // no final newline
      'text\n\n— a AAAAAAA=\n\n', // blank line after the signatures
      'text\n\n- a AAAAAAA=\n', // hyphen, not em dash
      'text\n\n—  a AAAAAAA=\n', // two spaces
      'text\n\n— a AAAAAAA= \n', // trailing space
      'text\n\n— a\n', // no signature
      'text\n\n— a b AAAAAAA=\n', // space in name
      'text\n\n— a+b AAAAAAA=\n', // plus in name
      'text\n\n— a\u00a0b AAAAAAA=\n', // Unicode space in name
      'text\n\n— a\u0085b AAAAAAA=\n', // NEL in name
      'text\n\n—  AAAAAAA=\n', // empty name
      'text\n\n— a AAAAAAB=\n', // non-zero padding bits: not canonical
      'text\n\n— a AAAAAAA\n', // missing padding
      'text\n\n— a AAAA AAA=\n',
      'text\n\n— a AA!AAAA=\n', // not base64
      'text\n\n— a AAAAAA==\n', // 4 bytes: a key ID and no signature
      'text\n\n— a \n',
      'te\u0000xt\n\n— a AAAAAAA=\n', // NUL
      'te\txt\n\n— a AAAAAAA=\n', // tab
      'text\r\n\n— a AAAAAAA=\n', // CR
      'te\u001bxt\n\n— a AAAAAAA=\n', // ESC
      'te\ud800xt\n\n— a AAAAAAA=\n', // lone surrogate: not UTF-8
    ]
    for (const note of bad) throwsCode(() => parseNote(note), 'note.malformed')
    expect(parseNote(`text\n\n— a ${sig}\n`).signatures[0]?.signature).toEqual(new Uint8Array(1))
    throwsCode(() => formatNote('no newline', [{ name: 'a', keyId: new Uint8Array(4), signature: new Uint8Array(1) }]), 'note.malformed')
    throwsCode(() => formatNote('t\n', []), 'note.malformed')
    throwsCode(() => formatNote('t\n', [{ name: 'a+b', keyId: new Uint8Array(4), signature: new Uint8Array(1) }]), 'note.malformed')
    throwsCode(() => formatNote('t\n', [{ name: 'a', keyId: new Uint8Array(3), signature: new Uint8Array(1) }]), 'note.malformed')
    throwsCode(() => signNote(generateSeed(), 'a', 'no newline'), 'note.malformed')
  })

  it('rejects malformed verifier keys with id.invalid-key', () => {
    const pub = publicKeyOf(generateSeed())
    const good = verifierKey('troth.example/k', pub)
    expect(parseVerifierKey(good).publicKey).toEqual(pub)
    expect(parseVerifierKey(verifierKey('w', pub, 0x04)).sigType).toBe(0x04)
    const [name, id, key] = [good.slice(0, good.indexOf('+')), good.split('+')[1] as string, good.slice(good.indexOf('+', good.indexOf('+') + 1) + 1)]
    const bad = [
      `${name}+00000000+${key}`, // wrong key ID
      `${name}+${id.toUpperCase()}+${key}`,
      `${name}+${id}`,
      `+${id}+${key}`,
      `${name}+${id}+${b64(Uint8Array.of(0x02, ...pub))}`, // unsupported type
      `${name}+${id}+${b64(Uint8Array.of(0x01, ...pub.subarray(1)))}`, // 31-byte key
      `${name}+${id}+${key.slice(0, -1)}`,
    ]
    for (const vkey of bad) throwsCode(() => parseVerifierKey(vkey), 'id.invalid-key')
    throwsCode(() => verifierKey('a b', pub), 'id.invalid-key')
    throwsCode(() => verifierKey('a', pub.subarray(1)), 'id.invalid-key')
  })
})

// --- tlog-proof and the tlog-witness consistency body ---

function signedCheckpoint(size: number): string {
  const seed = generateSeed()
  const body = formatCheckpoint({ origin: 'troth/test/00ff', size, root: hash(`root ${size}`) })
  return formatNote(body, [signNote(seed, 'troth/test/00ff', body), cosign(seed, 'member-1', 1_700_000_000, body)])
}

const HASHES = Array.from({ length: PROOF_HASHES_MAX + 1 }, (_, i) => hash(`proof ${i}`))

describe('tlog-proof', () => {
  it('round trips with and without extra data', () => {
    const checkpoint = signedCheckpoint(73_895)
    for (const extra of [undefined, Uint8Array.of(1, 2, 3)]) {
      const p = { ...(extra === undefined ? {} : { extra }), index: 73_894, proof: HASHES.slice(0, 5), checkpoint }
      const text = formatTlogProof(p)
      expect(text.startsWith(`c2sp.org/tlog-proof@v1\n${extra === undefined ? '' : 'extra AQID\n'}index 73894\n`)).toBe(true)
      expect(parseTlogProof(text)).toEqual(p)
    }
    expect(parseTlogProof(formatTlogProof({ index: 0, proof: [], checkpoint }))).toEqual({ index: 0, proof: [], checkpoint })
    expect(formatTlogProof({ extra: new Uint8Array(0), index: 1, proof: [], checkpoint })).toBe(formatTlogProof({ index: 1, proof: [], checkpoint }))
  })

  it('parses the header of the tlog-proof spec example', () => {
    const header = [
      'c2sp.org/tlog-proof@v1',
      'extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ',
      'index 73894',
      'gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=',
      'B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=',
      'EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=',
      'RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=',
      'AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=',
    ].join('\n')
    const p = parseTlogProof(`${header}\n\n${signedCheckpoint(109_482)}`)
    expect(p.index).toBe(73_894)
    expect(p.proof).toHaveLength(5)
    expect(Buffer.from(p.extra ?? []).toString('latin1').startsWith('age-v1.2.1-darwin-arm64.tar.gz')).toBe(true)
  })

  it('rejects every malformed proof with proof.malformed', () => {
    const cp = signedCheckpoint(10)
    const h = b64(HASHES[0] as Uint8Array)
    const bad = [
      `index 1\n${h}\n\n${cp}`, // no header
      `c2sp.org/tlog-proof@v2\nindex 1\n\n${cp}`,
      `c2sp.org/tlog-proof@v1\n${h}\n\n${cp}`, // no index
      `c2sp.org/tlog-proof@v1\nindex 01\n\n${cp}`,
      `c2sp.org/tlog-proof@v1\nindex -1\n\n${cp}`,
      `c2sp.org/tlog-proof@v1\nindex  1\n\n${cp}`,
      `c2sp.org/tlog-proof@v1\nindex 9007199254740992\n\n${cp}`,
      `c2sp.org/tlog-proof@v1\nextra \nindex 1\n\n${cp}`, // empty extra
      `c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\n${cp}`,
      `c2sp.org/tlog-proof@v1\nindex 1\nextra AQID\n\n${cp}`, // extra after index
      `c2sp.org/tlog-proof@v1\nindex 1\n${b64(new Uint8Array(31))}\n\n${cp}`, // 31-byte hash
      `c2sp.org/tlog-proof@v1\nindex 1\n${HASHES.map(b64).join('\n')}\n\n${cp}`, // 64 hashes
      `c2sp.org/tlog-proof@v1\nindex 1\n${h}\n${cp}`, // no blank line
      `c2sp.org/tlog-proof@v1\nindex 1\n\n${cp.split('\n\n')[0]}\n`, // unsigned checkpoint
      `c2sp.org/tlog-proof@v1\nindex 1\n\nnot a checkpoint\n\n— a AAAAAAA=\n`,
      `c2sp.org/tlog-proof@v1\nextra ${b64(new Uint8Array(NOTE_BYTES_MAX))}\nindex 1\n\n${cp}`, // over 1 MiB
    ]
    for (const text of bad) throwsCode(() => parseTlogProof(text), 'proof.malformed')
    expect(parseTlogProof(`c2sp.org/tlog-proof@v1\nindex 1\n${HASHES.slice(0, PROOF_HASHES_MAX).map(b64).join('\n')}\n\n${cp}`).proof).toHaveLength(PROOF_HASHES_MAX)
    throwsCode(() => formatTlogProof({ index: 1, proof: HASHES, checkpoint: cp }), 'proof.malformed')
    throwsCode(() => formatTlogProof({ index: 1, proof: [new Uint8Array(31)], checkpoint: cp }), 'proof.malformed')
    throwsCode(() => formatTlogProof({ index: 1.5, proof: [], checkpoint: cp }), 'proof.malformed')
    throwsCode(() => formatTlogProof({ index: 1, proof: [], checkpoint: 'x\n' }), 'proof.malformed')
  })
})

describe('tlog-witness consistency body', () => {
  it('round trips, up to 63 proof lines', () => {
    const checkpoint = signedCheckpoint(20)
    for (const n of [0, 1, 5, PROOF_HASHES_MAX]) {
      const body = { oldSize: n === 0 ? 0 : 7, proof: HASHES.slice(0, n), checkpoint }
      const text = formatConsistencyBody(body)
      expect(text.startsWith(`old ${body.oldSize}\n`)).toBe(true)
      expect(parseConsistencyBody(text)).toEqual(body)
    }
    const one = formatConsistencyBody({ oldSize: 7, proof: HASHES.slice(0, 1), checkpoint })
    expect(one).toBe(`old 7\n${b64(HASHES[0] as Uint8Array)}\n\n${checkpoint}`)
  })

  it('rejects every malformed body with proof.malformed', () => {
    const cp = signedCheckpoint(20)
    const h = b64(HASHES[0] as Uint8Array)
    const bad = [
      `${h}\n\n${cp}`, // no old line
      `old 07\n${h}\n\n${cp}`,
      `old\n\n${cp}`,
      `old 7 \n\n${cp}`,
      `Old 7\n\n${cp}`,
      `old 7\n${h.slice(1)}\n\n${cp}`,
      `old 7\n${HASHES.map(b64).join('\n')}\n\n${cp}`, // 64 lines
      `old 7\n${h}\n${cp}`, // no blank line
      `old 7\n\n${cp.slice(0, -1)}`, // truncated checkpoint note
    ]
    for (const text of bad) throwsCode(() => parseConsistencyBody(text), 'proof.malformed')
    throwsCode(() => formatConsistencyBody({ oldSize: 7, proof: HASHES, checkpoint: cp }), 'proof.malformed')
    throwsCode(() => formatConsistencyBody({ oldSize: -7, proof: [], checkpoint: cp }), 'proof.malformed')
  })
})
