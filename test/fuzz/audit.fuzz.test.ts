// Fuzzing audit answers (src/obligation/audit.ts): the signed answer a replica sends an auditor,
// and that every node re-checks when an audit.report carries it. decodeAnswer and
// parseSignedAnswer return the answer or throw a TrothError, and accepted bytes re-encode exactly;
// answersChallenge and answerVerdict judge any decoded answer against any snapshot without a throw.

import fc from 'fast-check'
import { describe } from 'vitest'
import { encode, type CborValue } from '../../src/ledger/encoding.ts'
import { answerVerdict, answersChallenge, decodeAnswer, parseSignedAnswer, signedAnswerToCbor, type AuditAnswer } from '../../src/obligation/audit.ts'
import { DECODE_CODES, attempt, expectCanonical, fuzz } from './harness.ts'
import { fieldValueArb, hostileBytes, setField, shapedMapArb } from './mutate.ts'
import * as corpus from './corpus.ts'

/** docs/obligations.md: the answer's canonical CBOR, kind first in meaning, sorted on the wire. */
function answerBytes(a: AuditAnswer): Uint8Array {
  return encode({ kind: 'audit.answer', net: a.net, epoch: a.epoch, root: a.root, replica: a.replica, auditor: a.auditor, indexes: [...a.indexes], leaves: [...a.leaves], proofs: a.proofs.map((p) => [...p]) })
}

const hash = fc.uint8Array({ minLength: 32, maxLength: 32 })
const lists = fc.oneof(
  fc.array(fc.oneof(fc.nat(10), fc.maxSafeNat(), fieldValueArb()), { maxLength: 5 }),
  fc.array(hash, { maxLength: 5 }),
  fc.array(fc.array(fc.oneof(hash, fieldValueArb()), { maxLength: 4 }), { maxLength: 5 }),
  fc.array(fc.nat(), { minLength: 65, maxLength: 66 }),
)
const shapedAnswer = fc
  .record({ m: shapedMapArb(['net', 'epoch', 'root', 'replica', 'auditor']), indexes: lists, leaves: lists, proofs: lists, kind: fc.constantFrom<CborValue>('audit.answer', 'audit.answer', 'other', 7) })
  .map(({ m, indexes, leaves, proofs, kind }) => {
    setField(m, 'kind', kind)
    setField(m, 'indexes', indexes as CborValue)
    setField(m, 'leaves', leaves as CborValue)
    setField(m, 'proofs', proofs as CborValue)
    return encode(m)
  })

/** Answers that decode, with any indexes, leaves and proofs, judged against any snapshot size. */
const decodable = fc
  .record({
    indexes: fc.array(fc.oneof(fc.nat(40), fc.maxSafeNat()), { maxLength: 4 }),
    proofs: fc.array(fc.array(hash, { maxLength: 32 }), { maxLength: 4 }),
    chunks: fc.oneof(fc.nat(40), fc.constantFrom(0, 1, 2 ** 32, 2 ** 53 - 1)),
  })
  .map(({ indexes, proofs, chunks }) => {
    const a = corpus.answers()[0]?.answer as AuditAnswer
    const n = Math.min(indexes.length, proofs.length)
    return { answer: { ...a, indexes: indexes.slice(0, n), leaves: proofs.slice(0, n).map((p) => p[0] ?? new Uint8Array(32)), proofs: proofs.slice(0, n) }, chunks }
  })

describe('fuzz: audit answers', () => {
  const answerSamples = corpus.answers().map((a) => a.bytes)
  fuzz('decodeAnswer: hostile answer bytes decode or fail with a TrothError; accepted ones re-encode exactly', hostileBytes(answerSamples, [shapedAnswer]), (bytes) => {
    const r = attempt(() => decodeAnswer(bytes), DECODE_CODES)
    if (r.ok) expectCanonical(bytes, answerBytes(r.value), 'audit answer')
  })

  const signedSamples = corpus.answerValues().map((v) => encode(v))
  fuzz('parseSignedAnswer: a hostile signed answer (as an auditor gets it, as a report carries it) parses or fails; accepted ones re-encode exactly', hostileBytes(signedSamples, [shapedAnswer.map((b) => encode({ answer: b, sig: new Uint8Array(64) }))]), (bytes) => {
    const v = attempt(() => corpus.decodeValue(bytes), DECODE_CODES)
    if (!v.ok) return
    const r = attempt(() => parseSignedAnswer(v.value, 'answer'), DECODE_CODES)
    if (r.ok) expectCanonical(bytes, encode(signedAnswerToCbor(r.value)), 'signed answer')
  })

  fuzz('answerVerdict and answersChallenge: any decoded answer against any snapshot is pass or fail, never a throw', decodable, ({ answer, chunks }) => {
    const a = corpus.answers()[0]?.answer as AuditAnswer
    const v = answerVerdict(answer, a.root, chunks)
    if (v !== 'pass' && v !== 'fail') throw new Error(`verdict ${String(v)}`)
    answersChallenge(answer, { net: a.net, epoch: a.epoch, root: a.root, chunks, replica: a.replica, auditor: a.auditor, indexes: answer.indexes })
  })
})
