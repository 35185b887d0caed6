// THE verification rule (DESIGN.md §1, docs/verification.md) pinned case by case: every Project
// Wycheproof Ed25519 case through verifyRaw, our own malleated signatures (non-canonical S and
// encodings, small-order and mixed-order points), and a differential run against
// @noble/ed25519 to record which of its options, if any, give the native answers.

import { describe, expect, it } from 'vitest'
import { verifyRaw } from '../../src/identity/ed25519.ts'
import { malleatedCases, nobleVerify, rfc8032Vectors, wycheproofVectors, type MalleatedGroup, type NobleOptions } from './vectors.ts'

/** Wycheproof cases where the native rule deliberately differs from Wycheproof's `result`.
 * Observed with Node 24 / OpenSSL 3.5: none. A change here is a change of THE rule: record it
 * in docs/verification.md with the tcIds and the reason. */
const NATIVE_DIFFERS_FROM_WYCHEPROOF: readonly number[] = []

/** Number of cases in test/vectors/wycheproof-ed25519.json. */
const WYCHEPROOF_CASES = 150

/** Observed per flag: [accepted, rejected] by the native rule (docs/verification.md table). */
const NATIVE_BY_FLAG: Record<string, [number, number]> = {
  Valid: [18, 0],
  Ktv: [38, 0],
  TinkOverflow: [32, 0],
  InvalidSignature: [0, 20],
  TruncatedSignature: [0, 3],
  SignatureWithGarbage: [0, 5],
  CompressedSignature: [0, 4],
  InvalidEncoding: [0, 21],
  SignatureMalleability: [0, 8],
  InvalidKtv: [0, 1],
}

describe('Wycheproof Ed25519', () => {
  const file = wycheproofVectors()

  it(`runs all ${WYCHEPROOF_CASES} cases, each tcId once`, () => {
    expect(file.cases.length).toBe(WYCHEPROOF_CASES)
    expect(file.numberOfTests).toBe(WYCHEPROOF_CASES)
    expect(new Set(file.cases.map((c) => c.tcId)).size).toBe(WYCHEPROOF_CASES)
  })

  it("has no 'acceptable' cases (one would need a recorded decision here and in the docs)", () => {
    expect(file.cases.filter((c) => c.result === 'acceptable').map((c) => c.tcId)).toEqual([])
  })

  it('native verifyRaw gives Wycheproof’s answer on every case, except the documented list', () => {
    const differs: number[] = []
    let run = 0
    for (const c of file.cases) {
      run++
      const expected = c.result === 'valid'
      if (verifyRaw(c.publicKey, c.message, c.signature) !== expected) differs.push(c.tcId)
    }
    expect(run).toBe(WYCHEPROOF_CASES)
    expect(differs).toEqual(NATIVE_DIFFERS_FROM_WYCHEPROOF)
  })

  it('per-flag accept/reject counts match docs/verification.md', () => {
    const counts: Record<string, [number, number]> = {}
    for (const c of file.cases) {
      const accepted = verifyRaw(c.publicKey, c.message, c.signature)
      for (const flag of c.flags) {
        const entry = (counts[flag] ??= [0, 0])
        entry[accepted ? 0 : 1]++
      }
    }
    expect(counts).toEqual(NATIVE_BY_FLAG)
  })
})

// ---------------------------------------------------------------------------------------------

/** The native rule on malleated signatures: only honest signatures, and mixed-order keys whose
 * torsion part is cancelled by k (the cofactorless equation holds exactly), are accepted. */
const NATIVE_ACCEPTS: Record<MalleatedGroup, boolean> = {
  control: true,
  's-plus-l': false,
  'mixed-order-r': false,
  'mixed-order-a-torsion-visible': false,
  'mixed-order-a-torsion-cancels': true,
  'small-order-a': false,
  'small-order-r': false,
  'non-canonical-a': false,
  'non-canonical-r': false,
}

const MALLEATED_CASES = 63
const RFC8032_CASES = 6

describe('malleated signatures: the native rule', () => {
  const cases = malleatedCases()

  it(`builds ${MALLEATED_CASES} cases covering every group`, () => {
    expect(cases.length).toBe(MALLEATED_CASES)
    expect(new Set(cases.map((c) => c.group))).toEqual(new Set(Object.keys(NATIVE_ACCEPTS)))
  })

  for (const c of cases) {
    it(`${c.group}: ${c.name} → ${NATIVE_ACCEPTS[c.group] ? 'accept' : 'reject'}`, () => {
      expect(verifyRaw(c.publicKey, c.message, c.signature)).toBe(NATIVE_ACCEPTS[c.group])
    })
  }
})

// ---------------------------------------------------------------------------------------------

interface Sample {
  label: string
  publicKey: Uint8Array
  message: Uint8Array
  signature: Uint8Array
}

function allSamples(): Sample[] {
  return [
    ...wycheproofVectors().cases.map((c) => ({ label: `wycheproof ${c.tcId}`, ...c })),
    ...rfc8032Vectors().map((v) => ({ label: `rfc8032 ${v.name}`, ...v })),
    ...malleatedCases().map((c) => ({ label: `${c.group}: ${c.name}`, ...c })),
  ]
}

function disagreements(samples: Sample[], options: NobleOptions): string[] {
  return samples.filter((s) => verifyRaw(s.publicKey, s.message, s.signature) !== nobleVerify(s.publicKey, s.message, s.signature, options)).map((s) => s.label)
}

/** Groups where noble { zip215: false } accepts what native rejects (cofactored equation; no
 * small-order check on R). */
const STRICT_DIFFERS: MalleatedGroup[] = ['mixed-order-r', 'mixed-order-a-torsion-visible', 'small-order-r']
/** Groups where noble { zip215: true } (its default) accepts what native rejects. */
const ZIP215_DIFFERS: MalleatedGroup[] = [...STRICT_DIFFERS, 'small-order-a', 'non-canonical-a', 'non-canonical-r']

describe('differential: @noble/ed25519 v3 against the native rule', () => {
  const samples = allSamples()
  const malleated = malleatedCases()
  const expectedLabels = (groups: MalleatedGroup[]) => malleated.filter((c) => groups.includes(c.group)).map((c) => `${c.group}: ${c.name}`)

  it('compares every sample: Wycheproof + RFC 8032 + malleated', () => {
    expect(samples.length).toBe(WYCHEPROOF_CASES + RFC8032_CASES + MALLEATED_CASES)
  })

  it('both options agree with native on all Wycheproof and RFC 8032 cases (a noble throw counted as false)', () => {
    const standard = samples.filter((s) => s.label.startsWith('wycheproof ') || s.label.startsWith('rfc8032 '))
    expect(standard.length).toBe(WYCHEPROOF_CASES + RFC8032_CASES)
    expect(disagreements(standard, { zip215: false })).toEqual([])
    expect(disagreements(standard, { zip215: true })).toEqual([])
  })

  it('{ zip215: false } disagrees on mixed-order R, visible torsion in A, and small-order R', () => {
    expect(disagreements(samples, { zip215: false })).toEqual(expectedLabels(STRICT_DIFFERS))
    expect(expectedLabels(STRICT_DIFFERS).length).toBe(15)
  })

  it('{ zip215: true } additionally disagrees on small-order keys and non-canonical encodings', () => {
    expect(disagreements(samples, { zip215: true })).toEqual(expectedLabels(ZIP215_DIFFERS))
    expect(expectedLabels(ZIP215_DIFFERS).length).toBe(40)
  })

  it('every disagreement is noble accepting what native rejects, never the reverse', () => {
    for (const options of [{ zip215: false }, { zip215: true }]) {
      for (const s of samples) {
        if (verifyRaw(s.publicKey, s.message, s.signature)) expect(nobleVerify(s.publicKey, s.message, s.signature, options)).toBe(true)
      }
    }
  })

  it('so no noble option may be used for verification (DESIGN.md §1)', () => {
    expect(disagreements(samples, { zip215: false }).length).toBeGreaterThan(0)
    expect(disagreements(samples, { zip215: true }).length).toBeGreaterThan(0)
  })
})
