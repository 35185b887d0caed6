// Structure-aware hostile entries shared by the fuzz targets: entries that decode (right types,
// within limits) and are signed by a real member at its next seq, but whose bodies carry hostile
// values, so the state machine's rules run on them instead of the decoder refusing them.

import fc from 'fast-check'
import { encode } from '../../src/ledger/encoding.ts'
import { encodeSignedEntry, signEntry, signKeyProof, type Body } from '../../src/ledger/entry.ts'
import { makeRequest } from '../../src/ledger/request.ts'
import { PARAM_NAMES } from '../../src/ledger/policy.ts'
import type { LedgerState } from '../../src/ledger/state.ts'
import { signVote, type Vote, VOTE_KINDS } from '../../src/ledger/consensus/messages.ts'
import * as corpus from './corpus.ts'
import type { Person } from '../ledger/fixtures.ts'

let everyone: Person[] | undefined
export const people = (): Person[] => (everyone ??= [...corpus.FOUNDERS, corpus.person('xavier'), corpus.person('yolanda')])

const u = fc.oneof(fc.nat(20), fc.constantFrom(0, 2 ** 32, 2 ** 53 - 1), fc.maxSafeNat())
const key32 = (): fc.Arbitrary<Uint8Array> => fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constantFrom(...people().map((p) => p.key)), fc.constantFrom(new Uint8Array(32), Uint8Array.of(1, ...new Array<number>(31).fill(0))))
const text = (max: number): fc.Arbitrary<string> => fc.oneof(fc.string({ unit: 'binary', maxLength: max }), fc.constantFrom('', '\u0000', '\u202e', 'a'.repeat(max)))

/**
 * Bodies that decode (right types, within limits) but carry hostile values: unknown parameters,
 * edge sizes, foreign or invalid keys, forged proofs, votes and answers of any view and epoch.
 */
export function hostileBodyArb(net: Uint8Array, author: Person): fc.Arbitrary<Body> {
  const ps = people()
  const vote = fc
    .record({ who: fc.nat(ps.length - 1), kind: fc.constantFrom(...VOTE_KINDS), epoch: fc.oneof(fc.nat(3), u), view: fc.integer({ min: 1, max: 40 }), parent: fc.nat(3), digest: fc.uint8Array({ minLength: 32, maxLength: 32 }) })
    .map(({ who, kind, epoch, view, parent, digest }): Vote => {
      const p = ps[who] as Person
      return signVote(net, p.seed, p.id, { kind, epoch, view, parent: Math.min(parent, view - 1), digest })
    })
  return fc.oneof(
    fc.record({ who: fc.nat(ps.length - 1), name: fc.oneof(text(64), fc.constant('xavier')), expires: u, foreign: fc.boolean() }).map(({ who, name, expires, foreign }): Body => {
      const p = ps[who] as Person
      return { kind: 'induct.vouch', request: makeRequest(p.seed, { net: foreign ? new Uint8Array(32).fill(7) : net, name: name.slice(0, 20), expires }) }
    }),
    fc.record({ candidate: key32(), reason: text(256) }).map((b): Body => ({ kind: 'induct.object', ...b })),
    fc.constant<Body>({ kind: 'leave' }),
    fc.record({ member: key32(), reason: text(256) }).map((b): Body => ({ kind: 'exile.propose', ...b })),
    key32().map((member): Body => ({ kind: 'exile.vote', member })),
    fc.record({ param: fc.oneof(fc.constantFrom(...PARAM_NAMES, '__proto__', 'constructor', 'toString', ''), text(64)), value: fc.option(u, { nil: null }) }).map((b): Body => ({ kind: 'policy.vote', ...b })),
    fc.record({ root: key32(), size: fc.oneof(u, fc.constantFrom(2 ** 50, 2 ** 50 + 1, 262_144, 262_145)), chunks: fc.oneof(u, fc.constantFrom(2 ** 32, 1, 2)), name: text(64) }).map((b): Body => ({
      kind: 'seal',
      ...b,
      size: Math.min(b.size, 2 ** 50),
      chunks: Math.min(b.chunks, 2 ** 32),
    })),
    fc.array(text(64), { maxLength: 8 }).map((addrs): Body => ({ kind: 'announce', addrs })),
    fc.record({ key: key32(), forge: fc.boolean(), who: fc.nat(ps.length - 1) }).map(({ key, forge, who }): Body => {
      const p = ps[who] as Person
      return forge ? { kind: 'key.rotate', key, keySig: new Uint8Array(64).fill(1) } : { kind: 'key.rotate', key: p.key, keySig: signKeyProof(p.seed, net, author.key, p.key) }
    }),
    fc.record({ member: key32(), who: fc.nat(ps.length - 1), cancel: fc.boolean(), forge: fc.boolean() }).map(({ member, who, cancel, forge }): Body => {
      const p = ps[who] as Person
      if (cancel) return { kind: 'key.recover', member, cancel: true }
      return { kind: 'key.recover', member, key: p.key, keySig: forge ? new Uint8Array(64) : signKeyProof(p.seed, net, member, p.key) }
    }),
    fc.tuple(vote, vote).map(([a, b]): Body => ({ kind: 'evidence', a, b })),
    fc.record({ epoch: fc.oneof(fc.nat(3), u), root: key32(), replica: key32(), verdict: fc.constantFrom('pass', 'fail', 'unreachable' as const), answer: fc.nat(corpus.answers().length) }).map(({ epoch, root, replica, verdict, answer }): Body => {
      const a = corpus.answers()[answer]
      return verdict === 'unreachable' || a === undefined ? { kind: 'audit.report', epoch, root, replica, verdict: 'unreachable', answer: null } : { kind: 'audit.report', epoch, root, replica, verdict, answer: a }
    }),
  )
}

/** Signed entries by a member, at its next seq (or near it), with hostile bodies. */
export function hostileSignedEntry(state: LedgerState): fc.Arbitrary<Uint8Array> {
  const ps = people()
  return fc
    .record({ who: fc.nat(ps.length - 1), seqDelta: fc.oneof({ arbitrary: fc.constant(1), weight: 8 }, { arbitrary: fc.integer({ min: -1, max: 3 }), weight: 1 }), timeDelta: fc.oneof(fc.constant(0), fc.integer({ min: -1e9, max: 1e9 })) })
    .chain(({ who, seqDelta, timeDelta }) => {
      const p = ps[who] as Person
      return hostileBodyArb(state.meta.net, p).map((body) => {
        const seq = Math.max(0, (state.members.get(p.id)?.seq ?? 0) + seqDelta)
        try {
          return encodeSignedEntry(signEntry(p.seed, { net: state.meta.net, author: p.key, seq, time: Math.max(0, state.meta.lastTime + timeDelta), body }))
        } catch {
          return encode({ entry: new Uint8Array(0), sig: new Uint8Array(64) }) // over a limit: signEntry refuses to make it
        }
      })
    })
}

