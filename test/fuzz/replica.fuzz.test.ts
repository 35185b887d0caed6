// Fuzzing a replica's protocol handlers (src/node/replica.ts), driven directly with no network:
// onConsensus (the consensus channel and topic), onEntry (the entry channel and topic), the sync
// server (decodeSyncRequest then serve, as the daemon's /sync/1 handler does) and the sync client
// (the responses catch-up, block, certificate and checkpoint fetches get back). A replica of a
// real history gets a sequence of hostile messages from one byzantine validator and hostile
// responses from peers. It must never log a replica.error (an exception escaped a handler),
// never hang, answer every sync request within the protocol's size limit, and never commit a block
// other than the history's (one byzantine validator of five cannot break safety).

import fc from 'fast-check'
import { describe } from 'vitest'
import { blockHash, decodeBlock, encodeBlock } from '../../src/ledger/block.ts'
import { decode, encode, type CborValue } from '../../src/ledger/encoding.ts'
import { bytesEqual, toHex } from '../../src/ledger/hash.ts'
import { certToCbor, makeCertificate, signVote, VOTE_KINDS } from '../../src/ledger/consensus/messages.ts'
import { cosign, formatCheckpoint, formatNote } from '../../src/ledger/tlog.ts'
import { RPC_FRAME_BYTES_CEILING } from '../../src/p2p/rpc.ts'
import { Replica, checkpointOrigin, decodeSyncRequest, encodeConsensus, type SyncRequest } from '../../src/node/replica.ts'
import type { Built } from '../../src/ledger/apply.ts'
import { MemoryLedger, MemoryWal } from '../sim/memory-ledger.ts'
import { SCRIPT_POLICY, type Person } from '../ledger/fixtures.ts'
import { DECODE_CODES, attempt, attemptAsync, fuzzAsync } from './harness.ts'
import { applyStep, applyTextStep, cborValueArb, hostileBytes, mutatedBytes, setField, shapedMapArb, stepArb, textStepArb } from './mutate.ts'
import { hostileSignedEntry, people } from './hostile.ts'
import * as corpus from './corpus.ts'

/** The replica starts at this height of the scripted history (epoch 1); later blocks come by sync. */
const HEAD = 7
const SYNC_RESPONSE_LIMIT = RPC_FRAME_BYTES_CEILING - 1024

interface World {
  readonly genesis: Uint8Array
  readonly net: Uint8Array
  readonly built: readonly Built[]
  /** certs[h - 1]: canonical CBOR of a finalization certificate of block h by its epoch's validators. */
  readonly certs: readonly Uint8Array[]
  /** Honest sync responses: the history after HEAD, one epoch per response. */
  readonly responses: readonly CborValue[]
  readonly byzantine: Person
}

let world: World | undefined
function theWorld(): World {
  if (world !== undefined) return world
  const c = corpus.chain()
  const byId = new Map(people().map((p) => [p.id, p]))
  const genesis = corpus.makeGenesis(corpus.FOUNDERS, SCRIPT_POLICY) // the scripted history's
  const parentState = (h: number) => (h === 1 ? new MemoryLedger(genesis).state : (c.blocks[h - 2] as Built).applied.state)
  const certs = c.blocks.map((b, i) => {
    const h = i + 1
    const validators = parentState(h).epoch.validators
    const votes = validators.map((v) => {
      const p = byId.get(v.id) as Person
      return signVote(c.net, p.seed, p.id, { kind: 'finalize', epoch: b.block.epoch, view: h, parent: 0, digest: b.applied.hash })
    })
    return encode(certToCbor(makeCertificate(votes)))
  })
  const cert = (h: number): CborValue => decode(certs[h - 1] as Uint8Array, { bytesMax: 1 << 20 })
  const bytes = (from: number, to: number): Uint8Array[] => c.blocks.slice(from - 1, to).map((b) => encodeBlock(b.block))
  // The sealed checkpoint of epoch 1 (closed by block 10), cosigned by its validators.
  const closing = (c.blocks[9] as Built)
  const body = formatCheckpoint({ origin: checkpointOrigin(closing.applied.state), size: closing.block.logSize, root: closing.block.logRoot })
  const cosigners = parentState(10).epoch.validators.map((v) => byId.get(v.id) as Person).sort((a, b) => (a.id < b.id ? -1 : 1))
  const note = formatNote(body, cosigners.map((p) => cosign(p.seed, p.id, 1_700_000_000, body)))
  const responses: CborValue[] = [
    { blocks: bytes(HEAD + 1, 10), cert: cert(10) },
    { blocks: bytes(11, 12), cert: cert(12) },
    { blocks: bytes(HEAD + 1, 9), cert: cert(9) },
    { blocks: [], cert: null },
    { block: encodeBlock((c.blocks[HEAD] as Built).block) },
    { block: new Uint8Array(0) },
    { certs: [cert(HEAD + 1), cert(9)] },
    { note },
    { note: '' },
  ]
  world = { genesis, net: c.net, built: c.blocks, certs, responses, byzantine: corpus.dave }
  return world
}

// ---------------------------------------------------------------------------------------------
// Inputs.

type Event =
  | { readonly t: 'consensus'; readonly bytes: Uint8Array; readonly from: number }
  | { readonly t: 'entry'; readonly bytes: Uint8Array; readonly from: number }
  | { readonly t: 'timer'; readonly dt: number }
  | { readonly t: 'serve'; readonly req: CborValue }

/** Consensus messages by the byzantine validator: any kind, epoch and view, blocks of its making. */
function byzantineMessage(w: World): fc.Arbitrary<Uint8Array> {
  const b = w.byzantine
  const epoch = fc.oneof(fc.constantFrom(1, 1, 1, 0, 2, 3), fc.maxSafeNat())
  const view = fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constantFrom(2 ** 31, 2 ** 53 - 1))
  const digest = fc.oneof(fc.constantFrom(...w.built.map((x) => x.applied.hash)), fc.uint8Array({ minLength: 32, maxLength: 32 }))
  const blockBytes = fc.oneof(fc.constantFrom(...w.built.slice(HEAD).map((x) => encodeBlock(x.block))), mutatedBytes(w.built.slice(HEAD).map((x) => encodeBlock(x.block))))
  return fc.oneof(
    fc.record({ kind: fc.constantFrom(...VOTE_KINDS), epoch, view, parent: fc.nat(12), digest }).map((v) =>
      encodeConsensus({ t: 'vote', vote: signVote(w.net, b.seed, b.id, { ...v, parent: Math.min(v.parent, v.view - 1) }) }),
    ),
    fc.record({ epoch, view, parent: fc.nat(12), block: blockBytes, own: fc.boolean() }).map(({ epoch, view, parent, block, own }) => {
      const digest = own ? digestOf(block) : new Uint8Array(32).fill(9)
      return encodeConsensus({ t: 'proposal', vote: signVote(w.net, b.seed, b.id, { kind: 'notarize', epoch, view, parent: Math.min(parent, view - 1), digest }), block })
    }),
    fc.record({ kind: fc.constantFrom(...VOTE_KINDS), epoch, view, digest }).map((v) =>
      encodeConsensus({ t: 'cert', cert: makeCertificate([signVote(w.net, b.seed, b.id, { ...v, parent: 0 })]) }),
    ),
    fc.integer({ min: HEAD + 1, max: w.built.length }).map((h) => encode({ t: 'cert', cert: decode(w.certs[h - 1] as Uint8Array, { bytesMax: 1 << 20 }) })),
    fc.record({ epoch: fc.oneof(fc.nat(3), fc.maxSafeNat()), body: fc.constantFrom(...corpus.checkpointBodies()) }).map(({ epoch, body }) =>
      encodeConsensus({ t: 'cosig', epoch, sig: cosign(b.seed, b.id, 1_700_000_000, body) }),
    ),
  )
}

function digestOf(bytes: Uint8Array): Uint8Array {
  try {
    return blockHash(decodeBlock(bytes))
  } catch {
    return new Uint8Array(32).fill(9)
  }
}

/** Responses a peer might send to a sync request: honest ones, mutated ones, anything. */
function responseArb(w: World): fc.Arbitrary<CborValue | null> {
  const mutated = fc.record({ i: fc.nat(w.responses.length - 1), steps: fc.array(stepArb, { minLength: 1, maxLength: 3 }) }).map(({ i, steps }) => {
    const bytes = steps.reduce((b, s) => applyStep(b, s, []), encode(w.responses[i] as CborValue))
    const r = attempt(() => decode(bytes, { bytesMax: 1 << 24 }))
    return r.ok ? r.value : null
  })
  const note = fc.tuple(fc.array(textStepArb, { minLength: 1, maxLength: 3 })).map(([steps]) => ({ note: steps.reduce((t, s) => applyTextStep(t, s, []), (w.responses.find((r) => typeof (r as { note?: unknown }).note === 'string' && (r as { note: string }).note !== '') as { note: string }).note) }))
  return fc.oneof(
    { arbitrary: fc.constantFrom(...w.responses), weight: 3 },
    { arbitrary: mutated, weight: 4 },
    { arbitrary: note, weight: 1 },
    { arbitrary: shapedMapArb(['blocks', 'cert', 'block', 'certs', 'note']), weight: 1 },
    { arbitrary: cborValueArb, weight: 1 },
    { arbitrary: fc.constant(null), weight: 1 },
  )
}

/** A sync request: the four kinds with hostile fields, anything else. */
const syncRequestArb: fc.Arbitrary<CborValue> = fc.oneof(
  fc.constantFrom(...corpus.syncRequests()),
  fc.record({ t: fc.constantFrom('blocks', 'block', 'certs', 'checkpoint', 'other'), from: fc.oneof(fc.nat(20), fc.maxSafeNat()), digest: fc.uint8Array({ minLength: 31, maxLength: 33 }), epoch: fc.oneof(fc.nat(3), fc.maxSafeNat()), views: fc.array(fc.oneof(fc.nat(20), fc.maxSafeNat()), { maxLength: 70 }) }).chain((r) =>
    fc.subarray(['from', 'digest', 'epoch', 'views']).map((keep) => {
      const m: Record<string, CborValue> = { t: r.t }
      for (const k of keep) setField(m, k, r[k as 'from'] as CborValue)
      return m as CborValue
    }),
  ),
  cborValueArb,
)

function eventsArb(w: World): fc.Arbitrary<{ events: Event[]; responses: Array<CborValue | null> }> {
  const consensusBytes = fc.oneof({ arbitrary: byzantineMessage(w), weight: 4 }, { arbitrary: hostileBytes(corpus.consensusBytes()), weight: 3 })
  const state = (w.built[HEAD - 1] as Built).applied.state
  const event: fc.Arbitrary<Event> = fc.oneof(
    { arbitrary: fc.record({ t: fc.constant('consensus' as const), bytes: consensusBytes, from: fc.nat(5) }), weight: 5 },
    { arbitrary: fc.record({ t: fc.constant('entry' as const), bytes: fc.oneof(hostileSignedEntry(state), hostileBytes(corpus.entryWires())), from: fc.nat(5) }), weight: 3 },
    { arbitrary: fc.record({ t: fc.constant('timer' as const), dt: fc.oneof(fc.nat(3_000), fc.constant(60_000)) }), weight: 2 },
    { arbitrary: fc.record({ t: fc.constant('serve' as const), req: syncRequestArb }), weight: 2 },
  )
  return fc.record({ events: fc.array(event, { minLength: 1, maxLength: 8 }), responses: fc.array(responseArb(w), { maxLength: 6 }) })
}

// ---------------------------------------------------------------------------------------------
// The replica under test.

async function drain(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r))
}

async function runReplica(w: World, input: { events: Event[]; responses: Array<CborValue | null> }): Promise<void> {
  const ledger = new MemoryLedger(w.genesis)
  await ledger.commitChain(w.built.slice(0, HEAD).map((b) => ({ block: b.block, applied: b.applied })), w.certs[HEAD - 1] as Uint8Array)
  let now = (w.built[HEAD - 1] as Built).block.time + 1_000
  const errors: string[] = []
  let asked = 0
  const ids = people().map((p) => p.id)
  const me = corpus.alice
  const replica = new Replica({
    me: { id: me.id, seed: me.seed },
    ledger,
    wal: new MemoryWal(),
    env: {
      now: () => now,
      wake: () => undefined,
      broadcast: () => undefined,
      gossipEntry: () => undefined,
      request: async (_req: SyncRequest) => (asked < input.responses.length ? (input.responses[asked++] ?? null) : null),
      penalise: () => undefined,
      log: (event, fields) => {
        if (event === 'replica.error') errors.push(`${String(fields?.error)}\n${String(fields?.stack)}`)
      },
    },
    timing: { leaderMs: 300, advanceMs: 350, retryMs: 300 },
    idleMs: 200,
    collectMs: 2,
  })
  await replica.start()
  for (const e of input.events) {
    switch (e.t) {
      case 'consensus': await replica.onConsensus(e.bytes, ids[e.from % ids.length] as string); break
      case 'entry': await replica.onEntry(e.bytes, ids[e.from % ids.length] as string); break
      case 'timer':
        now += e.dt
        await replica.onTimer(now)
        break
      case 'serve': {
        const req = attempt(() => decodeSyncRequest(e.req), DECODE_CODES)
        if (!req.ok) break
        const res = await attemptAsync(() => replica.serve(req.value))
        if (res.ok && encode({ ok: res.value }).length > SYNC_RESPONSE_LIMIT) throw new Error(`a ${req.value.t} response is over the sync limit`)
        break
      }
    }
    await drain(2)
  }
  // Let catch-up and fetches started by the events run out (their requests answer at once).
  let seen = -1
  while (seen !== asked) {
    seen = asked
    await drain(5)
  }
  await replica.stop()
  if (errors.length > 0) throw new Error(`replica.error: ${errors[0]}`)
  // Safety: whatever it committed is the history's (one byzantine validator of five).
  for (let h = 1; h <= ledger.state.meta.height; h++) {
    const mine = await ledger.blockBytes(h)
    const truth = w.built[h - 1]
    if (mine === undefined || truth === undefined || !bytesEqual(mine, encodeBlock(truth.block))) throw new Error(`committed a block ${h} that is not the history's (${toHex(mine ?? new Uint8Array(0)).slice(0, 16)})`)
  }
}

describe('fuzz: replica handlers', () => {
  const w = theWorld()
  fuzzAsync('replica: hostile consensus messages, entries, sync requests and sync responses never raise a replica.error, never hang, never break safety', eventsArb(w), (input) => runReplica(w, input), { hangMs: 20_000 })
})
