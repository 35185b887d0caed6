// Test fixtures: deterministic keys, a genesis, entry and block builders. Seeds are fixed so that
// every run builds the same ledger.

import { publicKeyOf } from '../../src/identity/ed25519.ts'
import { formatMemberId, parseMemberId } from '../../src/identity/member-id.ts'
import { buildBlock, type Built } from '../../src/ledger/apply.ts'
import { signEntry, encodeSignedEntry, type Body } from '../../src/ledger/entry.ts'
import { encodeGenesis, genesisState } from '../../src/ledger/genesis.ts'
import { sha256 } from '../../src/ledger/hash.ts'
import { makeRequest } from '../../src/ledger/request.ts'
import type { LedgerState, MemberId } from '../../src/ledger/state.ts'

export const GENESIS_TIME = 1_700_000_000_000

export interface Person {
  readonly seed: Uint8Array
  readonly key: Uint8Array
  readonly id: MemberId
  readonly name: string
}

export function person(label: string): Person {
  const seed = sha256(new TextEncoder().encode(`troth test key ${label}`))
  const key = publicKeyOf(seed)
  return { seed, key, id: formatMemberId(key), name: label }
}

export function makeGenesis(founders: readonly Person[], policy: Record<string, number> = {}): Uint8Array {
  return encodeGenesis({
    version: 1,
    name: 'testcoop',
    time: GENESIS_TIME,
    founders: founders.map((f) => ({ key: f.key, name: f.name, request: null })),
    policy,
  })
}

/** A tiny driver over the pure state machine: tracks seqs and time, builds blocks. */
export class Chain {
  state: LedgerState
  time: number
  view = 0
  /** Seqs handed out for the block being gathered (reset after each block). */
  private readonly pending = new Map<MemberId, number>()
  readonly blocks: Built[] = []

  constructor(genesis: Uint8Array) {
    this.state = genesisState(genesis)
    this.time = GENESIS_TIME
  }

  get net(): Uint8Array {
    return this.state.meta.net
  }

  /** Sign an entry by `p` with its next seq (or the one given). */
  entry(p: Person, body: Body, opts: { seq?: number; time?: number; net?: Uint8Array; signer?: Uint8Array } = {}): Uint8Array {
    const seq = opts.seq ?? (this.pending.get(p.id) ?? this.state.members.get(p.id)?.seq ?? 0) + 1
    if (opts.seq === undefined) this.pending.set(p.id, seq)
    const s = signEntry(opts.signer ?? p.seed, { net: opts.net ?? this.net, author: p.key, seq, time: opts.time ?? this.time, body })
    return encodeSignedEntry(s)
  }

  request(p: Person, expires = GENESIS_TIME + 10 ** 12): ReturnType<typeof makeRequest> {
    return makeRequest(p.seed, { net: this.net, name: p.name, expires })
  }

  proposer(): Uint8Array {
    const v = this.state.epoch.validators[this.view % this.state.epoch.validators.length]
    if (v === undefined) throw new Error('no validators')
    return parseMemberId(v.id)
  }

  /** Build and apply the next block with `entries`; returns what was built. */
  block(entries: Uint8Array[] = [], advanceMs = 1000): Built {
    this.time += advanceMs
    this.view += 1
    const built = buildBlock(this.state, { proposer: this.proposer(), time: this.time }, entries)
    this.state = built.applied.state
    this.blocks.push(built)
    this.pending.clear()
    return built
  }

  /** Add empty blocks until the current epoch has closed. */
  finishEpoch(advanceMs = 1000): void {
    const e = this.state.epoch.number
    while (this.state.epoch.number === e) this.block([], advanceMs)
  }
}

export const FOUNDERS = ['alice', 'bob', 'carol', 'dave'].map(person)
// Its seals name roots nobody holds, so nobody could audit them: a duty window this long keeps the
// protocol from exiling everyone for missed audits within the script.
export const SCRIPT_POLICY = { epochBlocks: 5, inductionWindowMs: 0, inductionWindowFloorMs: 0, dutyWindowEpochs: 1000, missedEpochsMax: 1000 }

/** A deterministic ledger history with a bit of everything: announcements, policy votes, seals,
 * an induction. The same n always gives the same blocks. */
export function scriptedChain(n: number): Chain {
  const c = new Chain(makeGenesis(FOUNDERS, SCRIPT_POLICY))
  const [a, b, cc, d] = FOUNDERS as [Person, Person, Person, Person]
  const x = person('xavier')
  for (let h = 1; h <= n; h++) {
    const entries: Uint8Array[] = []
    const who = FOUNDERS[h % 4] as Person
    entries.push(c.entry(who, { kind: 'announce', addrs: [`/ip4/127.0.0.1/tcp/${4000 + h}`] }))
    if (h % 3 === 0) entries.push(c.entry(d, { kind: 'policy.vote', param: 'chunksPerAudit', value: 1 + (h % 12) }))
    if (h % 4 === 0) {
      const root = new Uint8Array(32)
      new DataView(root.buffer).setUint32(0, h)
      entries.push(c.entry(cc, { kind: 'seal', root, size: h * 1000, chunks: 1, name: `snap-${h}` }))
    }
    if (h === 2) {
      const req = c.request(x)
      entries.push(c.entry(a, { kind: 'induct.vouch', request: req }), c.entry(b, { kind: 'induct.vouch', request: req }))
    }
    c.block(entries)
  }
  return c
}
