// Valid inputs to start mutating from, built with the project's own encoders and the ledger
// fixtures (test/ledger/fixtures.ts): every entry kind, blocks of a scripted history, genesis
// documents, requests, votes, certificates, consensus messages, sync requests, state records,
// notes, checkpoints, proofs, audit answers. Deterministic: the same bytes on every run.

import { decode, encode, type CborValue } from '../../src/ledger/encoding.ts'
import { encodeBlock } from '../../src/ledger/block.ts'
import { encodeSignedEntry, signEntry, signKeyProof, type Body } from '../../src/ledger/entry.ts'
import { encodeGenesis } from '../../src/ledger/genesis.ts'
import { sha256 } from '../../src/ledger/hash.ts'
import { makeRequest, signedRequestToCbor, FOUNDING_NET } from '../../src/ledger/request.ts'
import { stateRecords } from '../../src/ledger/state.ts'
import { certToCbor, makeCertificate, signVote, voteToCbor, type Certificate, type Vote } from '../../src/ledger/consensus/messages.ts'
import { cosign, formatCheckpoint, formatConsistencyBody, formatNote, formatTlogProof, signNote, verifierKey, SIG_TYPE_COSIGNATURE_V1 } from '../../src/ledger/tlog.ts'
import { signAnswer, signedAnswerToCbor, type SignedAnswer } from '../../src/obligation/audit.ts'
import { encodeConsensus, encodeSyncRequest } from '../../src/node/replica.ts'
import { EMPTY_ROOT } from '../../src/ledger/merkle.ts'
import { Chain, FOUNDERS, GENESIS_TIME, makeGenesis, person, scriptedChain, type Person } from '../ledger/fixtures.ts'

const [alice, bob, carol, dave] = FOUNDERS as [Person, Person, Person, Person]
const hashOf = (label: string): Uint8Array => sha256(new TextEncoder().encode(label))

function once<T>(build: () => T): () => T {
  let value: T | undefined
  return () => (value ??= build())
}

/** A scripted history (announcements, policy votes, seals, an induction) two epochs long. */
export const chain = once(() => scriptedChain(12))

export const votes = once((): Vote[] => {
  const net = chain().net
  const digest = hashOf('block')
  return [
    signVote(net, alice.seed, alice.id, { kind: 'notarize', epoch: 0, view: 3, parent: 2, digest }),
    signVote(net, bob.seed, bob.id, { kind: 'notarize', epoch: 0, view: 3, parent: 2, digest }),
    signVote(net, carol.seed, carol.id, { kind: 'notarize', epoch: 0, view: 3, parent: 2, digest }),
    signVote(net, alice.seed, alice.id, { kind: 'notarize', epoch: 0, view: 3, parent: 2, digest: hashOf('other block') }),
    signVote(net, alice.seed, alice.id, { kind: 'nullify', epoch: 1, view: 7, parent: 0, digest: new Uint8Array(0) }),
    signVote(net, dave.seed, dave.id, { kind: 'finalize', epoch: 2, view: 1, parent: 0, digest }),
  ]
})

export const certificates = once((): Certificate[] => {
  const v = votes()
  const net = chain().net
  const digest = hashOf('block')
  const finals = FOUNDERS.map((p) => signVote(net, p.seed, p.id, { kind: 'finalize', epoch: 0, view: 3, parent: 0, digest }))
  const nulls = FOUNDERS.slice(0, 3).map((p) => signVote(net, p.seed, p.id, { kind: 'nullify', epoch: 0, view: 4, parent: 0, digest: new Uint8Array(0) }))
  return [makeCertificate(v.slice(0, 3)), makeCertificate(finals), makeCertificate(nulls)]
})

export const answers = once((): SignedAnswer[] => {
  const net = chain().net
  const leaves = [hashOf('leaf 0'), hashOf('leaf 5')]
  const proofs = [[hashOf('p0'), hashOf('p1'), hashOf('p2')], [hashOf('p3'), hashOf('p4'), hashOf('p5')]]
  return [
    signAnswer(bob.seed, { net, epoch: 1, root: hashOf('root'), replica: bob.key, auditor: alice.key, indexes: [0, 5], leaves, proofs }),
    signAnswer(carol.seed, { net, epoch: 0, root: hashOf('root 2'), replica: carol.key, auditor: dave.key, indexes: [], leaves: [], proofs: [] }),
  ]
})

/** One signed entry of every kind (signed, well formed; not all valid in the chain's state). */
export const entryWires = once((): Uint8Array[] => {
  const c = chain()
  const x = person('xavier')
  const y = person('yolanda')
  const v = votes()
  const a = answers()
  const bodies: Array<[Person, Body]> = [
    [alice, { kind: 'induct.vouch', request: c.request(y) }],
    [bob, { kind: 'induct.object', candidate: y.key, reason: 'we have not met them' }],
    [carol, { kind: 'leave' }],
    [dave, { kind: 'exile.propose', member: carol.key, reason: 'lost the data twice' }],
    [alice, { kind: 'exile.vote', member: carol.key }],
    [bob, { kind: 'policy.vote', param: 'vouchCap', value: 3 }],
    [bob, { kind: 'policy.vote', param: 'epochBlocks', value: null }],
    [carol, { kind: 'seal', root: hashOf('snapshot'), size: 300_000, chunks: 2, name: 'minutes-2024' }],
    [dave, { kind: 'announce', addrs: ['/ip4/127.0.0.1/tcp/4001', '/dns4/coop.example/tcp/4001'] }],
    [alice, { kind: 'key.rotate', key: x.key, keySig: signKeyProof(x.seed, c.net, alice.key, x.key) }],
    [bob, { kind: 'key.recover', member: carol.key, key: x.key, keySig: signKeyProof(x.seed, c.net, carol.key, x.key) }],
    [carol, { kind: 'key.recover', member: carol.key, cancel: true }],
    [dave, { kind: 'evidence', a: v[0] as Vote, b: v[3] as Vote }],
    [alice, { kind: 'audit.report', epoch: 1, root: hashOf('root'), replica: bob.key, verdict: 'pass', answer: a[0] as SignedAnswer }],
    [alice, { kind: 'audit.report', epoch: 1, root: hashOf('root'), replica: bob.key, verdict: 'unreachable', answer: null }],
  ]
  const seqs = new Map<string, number>()
  return bodies.map(([p, body]) => {
    const seq = (seqs.get(p.id) ?? (c.state.members.get(p.id)?.seq ?? 0)) + 1
    seqs.set(p.id, seq)
    return encodeSignedEntry(signEntry(p.seed, { net: c.net, author: p.key, seq, time: c.time, body }))
  })
})

export const blockBytes = once((): Uint8Array[] => chain().blocks.map((b) => encodeBlock(b.block)))

export const requestBytes = once((): Uint8Array[] => {
  const c = chain()
  return [
    encode(signedRequestToCbor(c.request(person('xavier')))),
    encode(signedRequestToCbor(makeRequest(alice.seed, { net: FOUNDING_NET, name: 'alice', expires: GENESIS_TIME + 86_400_000 }))),
  ]
})

export const genesisBytes = once((): Uint8Array[] => {
  const founding = FOUNDERS.map((p) => ({ key: p.key, name: p.name, request: makeRequest(p.seed, { net: FOUNDING_NET, name: p.name, expires: GENESIS_TIME + 86_400_000 }) }))
  return [
    makeGenesis(FOUNDERS),
    makeGenesis([alice], { epochBlocks: 5, vouchCap: 3, replicationMin: 1, replicationTarget: 2, replicationMax: 3 }),
    encodeGenesis({ version: 1, name: 'coop.with-requests', time: GENESIS_TIME, founders: founding, policy: { inductionWindowMs: 0 } }),
  ]
})

export const consensusBytes = once((): Uint8Array[] => {
  const c = chain()
  const [v0, , , , v4, v5] = votes() as Vote[]
  const body = formatCheckpoint({ origin: `troth/testcoop/${Buffer.from(c.net).toString('hex')}`, size: 5, root: hashOf('log root') })
  return [
    encodeConsensus({ t: 'proposal', vote: v0 as Vote, block: blockBytes()[0] as Uint8Array }),
    encodeConsensus({ t: 'vote', vote: v4 as Vote }),
    encodeConsensus({ t: 'vote', vote: v5 as Vote }),
    ...certificates().map((cert) => encodeConsensus({ t: 'cert', cert })),
    encodeConsensus({ t: 'cosig', epoch: 0, sig: cosign(alice.seed, alice.id, 1_700_000_000, body) }),
  ]
})

export const syncRequests = once((): CborValue[] => [
  encodeSyncRequest({ t: 'blocks', from: 1 }),
  encodeSyncRequest({ t: 'block', digest: hashOf('block') }),
  encodeSyncRequest({ t: 'certs', epoch: 0, views: [1, 2, 3] }),
  encodeSyncRequest({ t: 'checkpoint', epoch: 0 }),
])

export const voteValues = once((): CborValue[] => votes().map(voteToCbor))
export const certValues = once((): CborValue[] => certificates().map(certToCbor))
export const answerValues = once((): CborValue[] => answers().map((a) => signedAnswerToCbor(a)))

/** Every state record of the scripted chain (with meta), encoded as the store keeps them. */
export const stateRecordBytes = once((): Array<[string, Uint8Array]> => stateRecords(chain().state, true).map(([k, v]) => [k, encode(v)]))

// --- transparency-log text ---

export const checkpointBodies = once((): string[] => {
  const c = chain()
  const origin = `troth/testcoop/${Buffer.from(c.net).toString('hex')}`
  return [
    formatCheckpoint({ origin, size: 5, root: hashOf('log root') }),
    formatCheckpoint({ origin: 'example.com/log', size: 0, root: EMPTY_ROOT }),
    formatCheckpoint({ origin: 'example.com/log', size: 9007199254740991, root: hashOf('big'), extensions: ['ext one', 'ext two'] }),
  ]
})

export const notes = once((): string[] => {
  const [body, empty, big] = checkpointBodies() as [string, string, string]
  return [
    formatNote(body, [cosign(alice.seed, alice.id, 1_700_000_000, body), cosign(bob.seed, bob.id, 1_700_000_001, body), cosign(carol.seed, carol.id, 0, body)]),
    formatNote(empty, [signNote(dave.seed, 'example.com/log', empty)]),
    formatNote(big, [signNote(alice.seed, 'a', big), cosign(bob.seed, 'witness.example', 12, big)]),
    formatNote('free text\n\nwith a blank line\n', [signNote(alice.seed, 'alice', 'free text\n\nwith a blank line\n')]),
  ]
})

export const tlogProofs = once((): string[] => {
  const [n0, n1, n2] = notes() as [string, string, string]
  const hashes = [hashOf('h0'), hashOf('h1'), hashOf('h2')]
  return [
    formatTlogProof({ index: 3, proof: hashes, checkpoint: n0 }),
    formatTlogProof({ extra: new TextEncoder().encode('extra data'), index: 0, proof: [], checkpoint: n1 }),
    formatTlogProof({ index: 9007199254740990, proof: hashes.slice(0, 1), checkpoint: n2 }),
  ]
})

export const consistencyBodies = once((): string[] => {
  const [n0, n1] = notes() as [string, string]
  return [
    formatConsistencyBody({ oldSize: 3, proof: [hashOf('c0'), hashOf('c1')], checkpoint: n0 }),
    formatConsistencyBody({ oldSize: 0, proof: [], checkpoint: n1 }),
  ]
})

export const verifierKeys = once((): string[] => [
  verifierKey('example.com/log', alice.key),
  verifierKey(bob.id, bob.key, SIG_TYPE_COSIGNATURE_V1),
  verifierKey('a', carol.key),
])

export { alice, bob, carol, dave, Chain, makeGenesis, person, FOUNDERS, GENESIS_TIME }

/** Strict decode with the widest limit any wire format here uses. */
export function decodeValue(bytes: Uint8Array): CborValue {
  return decode(bytes, { bytesMax: 1 << 24 })
}
