// The pure parts of governance through the control API: the strict parsing of what the CLI asks
// the node to sign, the views of open inductions and policy, and which member a key speaks for.

import { describe, expect, it } from 'vitest'
import { formatMemberId } from '../../src/identity/member-id.ts'
import { signKeyProof } from '../../src/ledger/entry.ts'
import { encode } from '../../src/ledger/encoding.ts'
import { toHex } from '../../src/ledger/hash.ts'
import { signedRequestToCbor } from '../../src/ledger/request.ts'
import { governanceOf, parseSubmission, policyOf } from '../../src/node/governance.ts'
import { ledgerIdentity } from '../../src/node/identity.ts'
import { Chain, makeGenesis, person } from '../ledger/fixtures.ts'

const [A, B, C, D] = ['alice', 'bob', 'carol', 'dave'].map(person) as [ReturnType<typeof person>, ReturnType<typeof person>, ReturnType<typeof person>, ReturnType<typeof person>]
const X = person('xavier')
const chain = (): Chain => new Chain(makeGenesis([A, B, C, D], { epochBlocks: 4, inductionWindowMs: 10_000, inductionWindowFloorMs: 5_000 }))

describe('parseSubmission: what the CLI may ask the node to sign', () => {
  it('builds each kind from JSON', () => {
    const c = chain()
    const req = c.request(X)
    expect(parseSubmission({ kind: 'induct.vouch', request: toHex(encode(signedRequestToCbor(req))) })).toMatchObject({ kind: 'induct.vouch', request: { sig: req.sig } })
    expect(parseSubmission({ kind: 'induct.object', candidate: X.id, reason: 'why' })).toEqual({ kind: 'induct.object', candidate: X.key, reason: 'why' })
    expect(parseSubmission({ kind: 'leave' })).toEqual({ kind: 'leave' })
    expect(parseSubmission({ kind: 'exile.propose', member: B.id, reason: 'r' })).toEqual({ kind: 'exile.propose', member: B.key, reason: 'r' })
    expect(parseSubmission({ kind: 'exile.vote', member: B.id })).toEqual({ kind: 'exile.vote', member: B.key })
    expect(parseSubmission({ kind: 'policy.vote', param: 'vouchCap', value: 3 })).toEqual({ kind: 'policy.vote', param: 'vouchCap', value: 3 })
    expect(parseSubmission({ kind: 'policy.vote', param: 'vouchCap', value: null })).toEqual({ kind: 'policy.vote', param: 'vouchCap', value: null })
    const keySig = signKeyProof(X.seed, c.net, A.key, X.key)
    expect(parseSubmission({ kind: 'key.rotate', key: X.id, keySig: toHex(keySig) })).toEqual({ kind: 'key.rotate', key: X.key, keySig })
    expect(parseSubmission({ kind: 'key.recover', member: A.id, key: X.id, keySig: toHex(keySig) })).toEqual({ kind: 'key.recover', member: A.key, key: X.key, keySig })
    expect(parseSubmission({ kind: 'key.recover', member: A.id, cancel: true })).toEqual({ kind: 'key.recover', member: A.key, cancel: true })
  })

  it.each([
    [null, /JSON object/],
    [[], /JSON object/],
    [{}, /kind must be one of/],
    [{ kind: 'seal' }, /kind must be one of/], // the node's own business
    [{ kind: 'audit.report' }, /kind must be one of/],
    [{ kind: 'leave', extra: 1 }, /unexpected field "extra"/],
    [{ kind: 'induct.vouch', request: 'zz' }, /request must be lowercase hex/],
    [{ kind: 'induct.vouch', request: 'a'.repeat(4000) }, /longer than/],
    [{ kind: 'induct.vouch', request: 'a0' }, /request file is damaged/],
    [{ kind: 'induct.object', candidate: 'troth1nope', reason: 'r' }, /candidate must be a MemberId/],
    [{ kind: 'induct.object', candidate: X.id, reason: '' }, /reason must be a non-empty string/],
    [{ kind: 'induct.object', candidate: X.id, reason: 'x'.repeat(257) }, /longer than 256 bytes/],
    [{ kind: 'exile.vote', member: 42 }, /member must be a MemberId/],
    [{ kind: 'policy.vote', param: 'bogus', value: 1 }, /unknown policy parameter/],
    [{ kind: 'policy.vote', param: 'vouchCap', value: 99 }, /vouchCap must be an integer in \[1, 20\]/],
    [{ kind: 'policy.vote', param: 'vouchCap', value: 1.5 }, /vouchCap must be an integer/],
    [{ kind: 'policy.vote', param: 'vouchCap', value: '3' }, /vouchCap must be an integer/],
    [{ kind: 'key.rotate', key: X.id, keySig: 'ab' }, /keySig must be 64 bytes/],
    [{ kind: 'key.recover', member: A.id, cancel: true, key: X.id }, /unexpected field "key"/],
  ])('refuses %j naming what is wrong', (body, reason) => {
    expect(() => parseSubmission(body)).toThrow(reason)
  })
})

describe('views', () => {
  it('an open induction shows its vouches, objections, window and what it still needs', () => {
    const c = chain()
    const req = c.request(X)
    c.block([c.entry(A, { kind: 'induct.vouch', request: req }), c.entry(C, { kind: 'induct.object', candidate: X.key, reason: 'r' })])
    const g = governanceOf(c.state) as { inductions: Array<Record<string, unknown>> }
    expect(g.inductions).toHaveLength(1)
    expect(g.inductions[0]).toMatchObject({ candidate: X.id, name: 'xavier', vouchWeight: 1000, vouchWeightNeeded: 2000, objectionWeight: 1000, objectionWeightLimit: 1000 })
    expect(g.inductions[0]?.state).toMatch(/stopped by objections/)
    expect((g.inductions[0]?.vouches as Array<{ id: string }>).map((v) => v.id)).toEqual([A.id])
  })

  it('policy shows the effective value, the genesis value and this member\'s vote', () => {
    const c = chain()
    c.block([c.entry(B, { kind: 'policy.vote', param: 'vouchCap', value: 5 })])
    const p = policyOf(c.state, B.id) as { params: Array<Record<string, unknown>> }
    expect(p.params.find((x) => x.param === 'vouchCap')).toMatchObject({ effective: 2, genesis: 2, votes: 1, myVote: 5, min: 1, max: 20 })
    expect((policyOf(c.state, A.id) as { params: Array<Record<string, unknown>> }).params.find((x) => x.param === 'vouchCap')?.myVote).toBeNull()
  })
})

describe('ledgerIdentity: which member a key speaks for', () => {
  it('a member\'s current key names it; its old key names nobody; another key names itself', () => {
    const c = chain()
    const id = ledgerIdentity(() => c.state)
    expect(id.memberOf(D.id)).toBe(D.id)
    expect(id.memberOf(X.id)).toBe(X.id) // a stranger or a candidate
    expect(id.keyOf(D.id)).toBe(D.id)
    c.block([c.entry(D, { kind: 'key.rotate', key: X.key, keySig: signKeyProof(X.seed, c.net, D.key, X.key) })])
    expect(id.memberOf(D.id)).toBe(D.id) // pending: the old key signs until the epoch closes
    c.finishEpoch()
    expect(c.state.members.get(D.id)?.key).toEqual(X.key)
    expect(id.memberOf(X.id)).toBe(D.id)
    expect(id.memberOf(D.id)).toBeNull()
    expect(id.keyOf(D.id)).toBe(formatMemberId(X.key))
  })
})
