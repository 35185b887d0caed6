// Fuzzing the transparency-log text formats (src/ledger/tlog.ts): signed notes, checkpoints,
// tlog-proof files, tlog-witness consistency bodies and verifier keys, which `troth inspect`
// reads from files and a node fetches from peers; and verifySealed (src/node/replica.ts), the
// check a node runs on a checkpoint note a peer sent. Parsers return the value or throw a
// TrothError; what they accept formats back to the same text; verifySealed only says yes or no.

import fc from 'fast-check'
import { describe } from 'vitest'
import { formatCheckpoint, formatConsistencyBody, formatNote, formatTlogProof, parseCheckpoint, parseConsistencyBody, parseNote, parseTlogProof, parseVerifierKey, verifierKey } from '../../src/ledger/tlog.ts'
import { ValidatorSet } from '../../src/ledger/consensus/messages.ts'
import { verifySealed } from '../../src/node/replica.ts'
import { attempt, expectSameText, fuzz } from './harness.ts'
import { hostileText } from './mutate.ts'
import * as corpus from './corpus.ts'

const b64 = (n: number): fc.Arbitrary<string> => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('base64'))
const line = fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.constantFrom('', ' ', 'example.com/log', '0', '18446744073709551616'))
const num = fc.oneof(fc.nat().map(String), fc.maxSafeNat().map(String), fc.constantFrom('00', '-1', '9007199254740992', '1.0', '+1', ' 1', ''))
const name = fc.oneof(fc.constantFrom('a', 'example.com/log', corpus.alice.id, 'has space', 'plus+sign', ''), fc.string({ maxLength: 12 }))

/** A checkpoint body from parts: origin, size, root, extension lines. */
const checkpointArb = fc
  .record({ origin: line, size: num, root: fc.oneof(b64(32), b64(31), b64(33), line), ext: fc.array(line, { maxLength: 2 }), newline: fc.boolean() })
  .map(({ origin, size, root, ext, newline }) => [origin, size, root, ...ext].join('\n') + (newline ? '\n' : ''))

/** A note from parts: text, a blank line, signature lines. */
const sigLine = fc.record({ n: name, sig: fc.oneof(b64(72), b64(68), b64(4), b64(5), b64(0), line), dash: fc.constantFrom('\u2014 ', '- ', '\u2014') }).map(({ n, sig, dash }) => `${dash}${n} ${sig}`)
const noteArb = fc
  .record({ text: fc.oneof(checkpointArb, fc.constantFrom(...corpus.checkpointBodies())), sigs: fc.array(sigLine, { minLength: 0, maxLength: 3 }) })
  .map(({ text, sigs }) => `${text}\n${sigs.map((s) => `${s}\n`).join('')}`)

const proofArb = fc
  .record({
    header: fc.constantFrom('c2sp.org/tlog-proof@v1', 'c2sp.org/tlog-proof@v2', ''),
    extra: fc.option(fc.oneof(b64(10), b64(0), line), { nil: null }),
    index: num,
    hashes: fc.array(fc.oneof(b64(32), b64(16), line), { maxLength: 4 }),
    note: fc.oneof(fc.constantFrom(...corpus.notes()), noteArb),
  })
  .map(({ header, extra, index, hashes, note }) => [header, ...(extra === null ? [] : [`extra ${extra}`]), `index ${index}`, ...hashes].join('\n') + `\n\n${note}`)

const consistencyArb = fc
  .record({ old: num, hashes: fc.array(fc.oneof(b64(32), line), { maxLength: 4 }), note: fc.oneof(fc.constantFrom(...corpus.notes()), noteArb) })
  .map(({ old, hashes, note }) => [`old ${old}`, ...hashes].join('\n') + `\n\n${note}`)

const vkeyArb = fc
  .record({ n: name, id: fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => Buffer.from(b).toString('hex')), line), type: fc.constantFrom(1, 4, 0, 2, 255), key: fc.uint8Array({ minLength: 31, maxLength: 33 }) })
  .map(({ n, id, type, key }) => `${n}+${id}+${Buffer.from(Uint8Array.of(type, ...key)).toString('base64')}`)

describe('fuzz: transparency-log formats', () => {
  const allText = [...corpus.notes(), ...corpus.checkpointBodies(), ...corpus.tlogProofs(), ...corpus.consistencyBodies()]

  fuzz('parseNote: hostile notes parse or fail with a TrothError; accepted ones format back to the same text', hostileText([...corpus.notes(), ...corpus.tlogProofs()], [noteArb]), (text) => {
    const r = attempt(() => parseNote(text), ['note.malformed', 'note.too-large'])
    if (r.ok) expectSameText(text, formatNote(r.value.text, r.value.signatures), 'note')
  })

  fuzz('parseCheckpoint: hostile checkpoint bodies parse or fail; accepted ones format back to the same text', hostileText(corpus.checkpointBodies(), [checkpointArb]), (text) => {
    const r = attempt(() => parseCheckpoint(text), ['checkpoint.malformed'])
    if (r.ok) expectSameText(text, formatCheckpoint(r.value), 'checkpoint')
  })

  fuzz('parseTlogProof: hostile tlog-proof files parse or fail; accepted ones format back to the same text', hostileText([...corpus.tlogProofs(), ...allText], [proofArb]), (text) => {
    const r = attempt(() => parseTlogProof(text), ['proof.malformed'])
    if (r.ok) expectSameText(text, formatTlogProof(r.value), 'tlog-proof')
  })

  fuzz('parseConsistencyBody: hostile add-checkpoint bodies parse or fail; accepted ones format back to the same text', hostileText([...corpus.consistencyBodies(), ...allText], [consistencyArb]), (text) => {
    const r = attempt(() => parseConsistencyBody(text), ['proof.malformed'])
    if (r.ok) expectSameText(text, formatConsistencyBody(r.value), 'consistency body')
  })

  fuzz('parseVerifierKey: hostile verifier keys parse or fail; accepted ones print back the same', hostileText(corpus.verifierKeys(), [vkeyArb]), (text) => {
    const r = attempt(() => parseVerifierKey(text), ['id.invalid-key'])
    if (r.ok) expectSameText(text, verifierKey(r.value.name, r.value.publicKey, r.value.sigType), 'verifier key')
  })

  // The checkpoint note a node fetches from a peer: checked against the body it expects and the
  // validators of the epoch; a yes only for a quorum of valid cosignatures.
  const body = corpus.checkpointBodies()[0] as string
  const sealed = corpus.notes()[0] as string
  const set = new ValidatorSet(0, corpus.FOUNDERS.map((p) => ({ id: p.id, key: p.key, weight: 1000 })))
  const smallSet = new ValidatorSet(0, corpus.FOUNDERS.slice(0, 2).map((p) => ({ id: p.id, key: p.key, weight: 1000 })))
  fuzz('verifySealed: a peer\'s hostile checkpoint note gets a yes or a no, never a throw; a yes needs a quorum of real cosignatures', fc.tuple(hostileText([sealed, ...corpus.notes()], [noteArb]), fc.boolean()), ([note, small]) => {
    const v = small ? smallSet : set
    const yes = verifySealed(note, body, v)
    if (typeof yes !== 'boolean') throw new Error('verifySealed must answer a boolean')
    // The corpus note carries 3 of 4 founders' cosignatures: a quorum of the full set, and both
    // cosigners of the small one. A yes for anything else must still parse as this body, signed.
    if (yes && parseNote(note).text !== body) throw new Error('verifySealed said yes to a note for another body')
  })
})
