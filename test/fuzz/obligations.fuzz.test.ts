// Fuzzing a node's duty protocols (src/node/obligations.ts), driven directly with no network: the
// /chunk/1 and /audit/1 request handlers (captured from Obligations.start through a stand-in Rpc)
// get hostile requests from any member; the client side (fetchLeaves, fetchChunk, and the
// auditor's challenge) gets hostile responses. A handler answers a value within its protocol's
// limit or throws a TrothError (which the RPC layer sends back as an error response); a client
// returns only data checked against the ledger, or throws a TrothError.

import { join } from 'node:path'
import fc from 'fast-check'
import { describe } from 'vitest'
import { TrothError } from '../../src/errors.ts'
import { epochDuties } from '../../src/ledger/duties.ts'
import { encode, type CborValue } from '../../src/ledger/encoding.ts'
import { bytesEqual, toHex } from '../../src/ledger/hash.ts'
import { CHUNK_BYTES } from '../../src/ledger/limits.ts'
import { leafHash, rootOf } from '../../src/ledger/merkle.ts'
import type { LedgerState } from '../../src/ledger/state.ts'
import { ChunkStore } from '../../src/node/chunks.ts'
import { Obligations } from '../../src/node/obligations.ts'
import { answerSignatureValid, answersChallenge, parseSignedAnswer, signAnswer, signedAnswerToCbor, type AuditAssignment } from '../../src/obligation/index.ts'
import type { RpcHandler, RpcProtocol } from '../../src/p2p/rpc.ts'
import type { Rpc } from '../../src/p2p/index.ts'
import { Chain, makeGenesis, type Person } from '../ledger/fixtures.ts'
import { DECODE_CODES, attemptAsync, fuzzAsync } from './harness.ts'
import { applyStep, cborValueArb, fieldValueArb, shapedMapArb, stepArb } from './mutate.ts'
import { scratchDir } from './scratch.ts'
import { people } from './hostile.ts'
import * as corpus from './corpus.ts'

const CODES = ['schema.invalid', 'input.invalid', 'input.not-found', 'input.too-large', 'store.corrupt', 'net.dial-failed', 'net.protocol', 'net.timeout', 'cbor.too-large', 'cbor.truncated'] as const
const RESPONSE_OVERHEAD_BYTES = 16

/** A snapshot of two chunks sealed by alice, replicated by every founder, audited from epoch 1. */
const data = [new Uint8Array(CHUNK_BYTES).fill(7), new TextEncoder().encode('the minutes of the last meeting')]
const leaves = data.map(leafHash)
const root = rootOf(leaves)
const rootHex = toHex(root)
const size = CHUNK_BYTES + (data[1] as Uint8Array).length

interface DutyWorld {
  readonly state: LedgerState
  readonly duty: AuditAssignment
  readonly replica: Person
  readonly auditor: Person
}

let dutyWorld: DutyWorld | undefined
function theDutyWorld(): DutyWorld {
  if (dutyWorld !== undefined) return dutyWorld
  const c = new Chain(makeGenesis(corpus.FOUNDERS, { epochBlocks: 4, inductionWindowMs: 0, inductionWindowFloorMs: 0, dutyWindowEpochs: 1000, missedEpochsMax: 1000 }))
  c.block([c.entry(corpus.alice, { kind: 'seal', root, size, chunks: 2, name: 'minutes' })])
  c.finishEpoch()
  c.block()
  const duties = epochDuties(c.state)
  const duty = duties.assignments.find((a) => a.root === rootHex) as AuditAssignment
  const byId = new Map(people().map((p) => [p.id, p]))
  dutyWorld = { state: c.state, duty, replica: byId.get(duty.replica) as Person, auditor: byId.get(duty.auditor) as Person }
  return dutyWorld
}

/** An Rpc stand-in: keeps the handlers Obligations registers, answers its requests from a list. */
class StandInRpc {
  readonly handlers = new Map<string, { protocol: RpcProtocol; handler: RpcHandler }>()
  responses: Array<CborValue | null> = []
  asked = 0
  async handle(protocol: RpcProtocol, handler: RpcHandler): Promise<void> {
    this.handlers.set(protocol.name, { protocol, handler })
  }
  async request(): Promise<CborValue> {
    const r = this.responses[this.asked++ % Math.max(1, this.responses.length)]
    if (r === undefined || r === null) throw new TrothError('net.timeout', 'no response')
    return r
  }
}

async function obligationsFor(me: Person, chunks: ChunkStore, rpc: StandInRpc, state: LedgerState): Promise<Obligations> {
  const o = new Obligations({
    id: me.id,
    seed: me.seed,
    net: toHex(state.meta.net),
    state: () => state,
    chunks,
    rpc: rpc as unknown as Rpc,
    peers: () => people().map((p) => p.id),
    submit: async () => ({ status: 'ok', wire: new Uint8Array(0) }),
    pending: () => false,
    penalise: () => undefined,
    log: () => undefined,
    skipAudits: true,
  })
  await o.start()
  o.stop() // no duty loop: only the handlers are under test
  return o
}

function checkAnswer(protocol: RpcProtocol, value: CborValue): void {
  const bytes = encode({ ok: value }).length
  if (bytes > protocol.maxResponseBytes + RESPONSE_OVERHEAD_BYTES) throw new Error(`${protocol.name} answered ${bytes} bytes, over its limit`)
}

describe('fuzz: duty protocols', () => {
  const w = theDutyWorld()
  const ids = people().map((p) => p.id)
  const scratch = scratchDir('obligations')
  let store: ChunkStore | null = null
  const rpc = new StandInRpc()
  const setup = async (): Promise<void> => {
    store = await ChunkStore.open(join(scratch.path, 'chunks'))
    await store.begin(rootHex, size, 2, leaves)
    await store.put(rootHex, 0, data[0] as Uint8Array)
    await store.put(rootHex, 1, data[1] as Uint8Array)
    await store.markComplete(rootHex)
    await obligationsFor(w.replica, store, rpc, w.state)
  }

  const value = fc.oneof(fieldValueArb(), fc.constantFrom<CborValue>(root, 0, 1, 2, w.state.epoch.number, 65_536, 65_537, [...w.duty.chunks]))
  const chunkRequest = fc.oneof(
    fc.constantFrom<CborValue>({ root, index: 0 }, { root, index: 1 }, { root, from: 0, count: 2 }),
    shapedMapArb(['root', 'index', 'from', 'count'], value),
    cborValueArb,
  )
  fuzzAsync(
    '/chunk/1 handler: hostile requests from any member get a chunk or leaves within the limit, or a TrothError',
    fc.tuple(chunkRequest, fc.nat(ids.length - 1)),
    async ([req, from]) => {
      const { protocol, handler } = rpc.handlers.get('chunk') as { protocol: RpcProtocol; handler: RpcHandler }
      const r = await attemptAsync(async () => handler(req, ids[from] as string, { signal: AbortSignal.timeout(10_000) }), CODES)
      if (r.ok) checkAnswer(protocol, r.value)
    },
    { before: setup },
  )

  const auditRequest = fc.oneof(
    fc.constant<CborValue>({ epoch: w.state.epoch.number, root, indexes: [...w.duty.chunks] }),
    shapedMapArb(['epoch', 'root', 'indexes'], fc.oneof(value, fc.array(fc.oneof(fc.nat(3), fc.maxSafeNat()), { maxLength: 66 }) as fc.Arbitrary<CborValue>)),
    cborValueArb,
  )
  fuzzAsync(
    '/audit/1 handler: hostile challenges from any member get a signed answer to exactly the duty, or a TrothError',
    fc.tuple(auditRequest, fc.oneof(fc.constant(ids.indexOf(w.auditor.id)), fc.nat(ids.length - 1))),
    async ([req, from]) => {
      const { protocol, handler } = rpc.handlers.get('audit') as { protocol: RpcProtocol; handler: RpcHandler }
      const r = await attemptAsync(async () => handler(req, ids[from] as string, { signal: AbortSignal.timeout(10_000) }), CODES)
      if (!r.ok) return
      checkAnswer(protocol, r.value)
      // Only the assigned auditor gets an answer, and it is the replica's, about this duty.
      if (ids[from] !== w.auditor.id) throw new Error(`${String(ids[from])} got an answer to a duty that is not theirs`)
      const answer = parseSignedAnswer((r.value as { answer: CborValue }).answer, 'answer')
      const challenge = { net: w.state.meta.net, epoch: w.state.epoch.number, root, chunks: 2, replica: w.replica.key, auditor: w.auditor.key, indexes: w.duty.chunks }
      if (!answersChallenge(answer.answer, challenge) || !answerSignatureValid(answer, w.replica.key)) throw new Error('the answer is not the replica\'s signed answer to this duty')
    },
    { before: setup, after: () => scratch.remove() },
  )

  // --- the client side: what a replica fetching, or an auditor challenging, gets back ---

  const honestLeaves: CborValue = { leaves }
  const honestChunks: CborValue[] = data.map((d) => ({ data: d }))
  const responsesArb = (honest: readonly CborValue[]): fc.Arbitrary<Array<CborValue | null>> =>
    fc.array(
      fc.oneof(
        fc.constantFrom(...honest),
        fc.record({ i: fc.nat(honest.length - 1), steps: fc.array(stepArb, { minLength: 1, maxLength: 3 }) }).map(({ i, steps }) => {
          const bytes = steps.reduce((b, s) => applyStep(b, s, []), encode(honest[i] as CborValue))
          try {
            return corpus.decodeValue(bytes)
          } catch {
            return null
          }
        }),
        shapedMapArb(['leaves', 'data', 'answer', 'chunks']),
        cborValueArb,
        fc.constant(null),
      ),
      { minLength: 1, maxLength: 4 },
    )

  const client = new StandInRpc()
  let fetcher: Obligations | null = null
  let auditor: Obligations | null = null
  const clientScratch = scratchDir('obligations-client')
  const clientSetup = async (): Promise<void> => {
    const s = await ChunkStore.open(join(clientScratch.path, 'chunks'))
    fetcher = await obligationsFor(corpus.dave, s, client, w.state)
    auditor = await obligationsFor(w.auditor, s, client, w.state)
  }

  fuzzAsync(
    'fetchLeaves and fetchChunk: hostile responses give back only data that matches the sealed root, or a TrothError',
    fc.tuple(responsesArb([honestLeaves, ...honestChunks]), fc.nat(1)),
    async ([responses, index]) => {
      client.responses = responses
      client.asked = 0
      const sources = ids.slice(0, 3)
      const got = await attemptAsync(() => (fetcher as Obligations).fetchLeaves(rootHex, { chunks: 2 }, sources), CODES)
      if (got.ok && !bytesEqual(rootOf(got.value), root)) throw new Error('fetchLeaves returned leaves that do not hash to the root')
      const chunk = await attemptAsync(() => (fetcher as Obligations).fetchChunk(rootHex, index, leaves[index] as Uint8Array, sources), CODES)
      if (chunk.ok && !bytesEqual(leafHash(chunk.value), leaves[index] as Uint8Array)) throw new Error('fetchChunk returned a chunk that does not match its leaf')
    },
    { before: clientSetup },
  )

  // An honest replica's answer to the duty, to mutate (a tree of two leaves: each proves the other).
  const honestAudit: CborValue = {
    answer: signedAnswerToCbor(
      signAnswer(w.replica.seed, {
        net: w.state.meta.net,
        epoch: w.state.epoch.number,
        root,
        replica: w.replica.key,
        auditor: w.auditor.key,
        indexes: [...w.duty.chunks],
        leaves: w.duty.chunks.map((i) => leaves[i] as Uint8Array),
        proofs: w.duty.chunks.map((i) => [leaves[1 - i] as Uint8Array]),
      }),
    ),
    chunks: w.duty.chunks.map((i) => data[i] as Uint8Array),
  }
  fuzzAsync(
    'the auditor\'s challenge: a hostile audit response gives a pass or fail only for a signed answer to the duty, else a TrothError',
    responsesArb([honestAudit]),
    async (responses) => {
      client.responses = responses
      client.asked = 0
      // challenge() is private: it is the auditor's response handler, called here as auditOne does.
      const challenge = (auditor as unknown as { challenge(s: LedgerState, a: AuditAssignment): Promise<{ verdict: string }> }).challenge.bind(auditor)
      const r = await attemptAsync(() => challenge(w.state, w.duty), [...CODES, ...DECODE_CODES, 'id.invalid-member-id'])
      if (!r.ok) return
      if (r.value.verdict !== 'pass' && r.value.verdict !== 'fail') throw new Error(`verdict ${r.value.verdict}`)
      // A verdict only for an answer anyone can check: the replica's signature over this very duty.
      const got = parseSignedAnswer((responses[0] as { answer: CborValue }).answer, 'answer')
      const duty = { net: w.state.meta.net, epoch: w.state.epoch.number, root, chunks: 2, replica: w.replica.key, auditor: w.auditor.key, indexes: w.duty.chunks }
      if (!answersChallenge(got.answer, duty) || !answerSignatureValid(got, w.replica.key)) throw new Error('a verdict for an answer that is not the replica\'s signed answer to the duty')
    },
    { after: () => clientScratch.remove() },
  )
})
