// A small ledger on disk for audit tests: the pure state machine drives blocks into a real
// LedgerStore (level), and every closed epoch gets a checkpoint cosigned by all of that epoch's
// members, as nodes do (DESIGN.md §3.2). The history changes the member set twice: dave is exiled
// at the close of epoch 0, xavier joins at the close of epoch 1. Deterministic: same seeds, same
// times, same bytes.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { certToCbor, makeCertificate, signVote } from '../../src/ledger/consensus/messages.ts'
import { encode } from '../../src/ledger/encoding.ts'
import { ledgerOrigin } from '../../src/ledger/genesis.ts'
import { LedgerStore } from '../../src/ledger/store.ts'
import type { Validator } from '../../src/ledger/state.ts'
import { cosign, formatCheckpoint, formatNote, type NoteSignature } from '../../src/ledger/tlog.ts'
import { Chain, FOUNDERS, GENESIS_TIME, makeGenesis, person, type Person } from '../ledger/fixtures.ts'

export const [ALICE, BOB, CAROL, DAVE] = FOUNDERS as [Person, Person, Person, Person]
export const XAVIER = person('xavier')
export const PEOPLE = [...FOUNDERS, XAVIER]
export const POLICY = { epochBlocks: 5, inductionWindowMs: 0, inductionWindowFloorMs: 0, dutyWindowEpochs: 1000, missedEpochsMax: 1000 }

export const ROOT_EARLY = Uint8Array.from({ length: 32 }, (_, i) => i + 1)
export const ROOT_SEALED = Uint8Array.from({ length: 32 }, (_, i) => 200 - i)

export interface AuditLedger {
  readonly dir: string
  readonly genesis: Uint8Array
  readonly origin: string
  readonly store: LedgerStore
  readonly chain: Chain
  /** Each closed epoch: its members, checkpoint body and note. */
  readonly epochs: Array<{ epoch: number; members: readonly Validator[]; body: string; note: string; size: number }>
  close(): Promise<void>
}

export const seedOf = (id: string): Uint8Array => {
  const p = PEOPLE.find((x) => x.id === id)
  if (p === undefined) throw new Error(`no seed for ${id}`)
  return p.seed
}

export function cosignAll(body: string, ids: readonly string[], time: number): NoteSignature[] {
  return [...ids].sort().map((id) => cosign(seedOf(id), id, time, body))
}

export interface LedgerOptions {
  /** Close epochs up to and including this one (at least 2). */
  readonly lastEpoch?: number
  /** The snapshot alice seals in epoch 2 (default: ROOT_SEALED, 300 000 bytes in 2 chunks, "minutes/"). */
  readonly snapshot?: { readonly root: Uint8Array; readonly size: number; readonly chunks: number; readonly name: string }
  /** A different history from epoch 2 on (bob announces an address there): a fork of the default. */
  readonly fork?: boolean
  /** Store a finalization certificate (every member of the epoch signs) with each block, as live
   * nodes store one with each directly finalized block: a sealed start serves the epoch's last. */
  readonly certs?: boolean
}

/** Builds the history in a fresh directory, up to (and closing) epoch `lastEpoch`. */
export async function auditLedger(opts: LedgerOptions = {}): Promise<AuditLedger> {
  const lastEpoch = opts.lastEpoch ?? 3
  const snapshot = opts.snapshot ?? { root: ROOT_SEALED, size: 300_000, chunks: 2, name: 'minutes/' }
  const dir = mkdtempSync(join(tmpdir(), 'troth-audit-'))
  const genesis = makeGenesis(FOUNDERS, POLICY)
  const store = await LedgerStore.open(join(dir, 'ledger'), genesis)
  const chain = new Chain(genesis)
  const origin = ledgerOrigin(chain.state.meta.name, chain.state.meta.net)
  const epochs: AuditLedger['epochs'] = []
  const block = async (entries: Uint8Array[] = []): Promise<void> => {
    const members = chain.state.epoch.validators
    const epoch = chain.state.epoch.number
    const built = chain.block(entries)
    const cert = opts.certs !== true ? null : encode(certToCbor(makeCertificate(members.map((m) => signVote(chain.net, seedOf(m.id), m.id, { kind: 'finalize', epoch, view: chain.view, parent: 0, digest: built.applied.hash })))))
    await store.commitChain([{ block: built.block, applied: built.applied }], cert)
    if (built.applied.sealed !== null) {
      const size = built.applied.state.meta.logSize
      const body = formatCheckpoint({ origin, size, root: built.block.logRoot })
      const note = formatNote(body, cosignAll(body, members.map((m) => m.id), GENESIS_TIME / 1000 + 60 * (epoch + 1)))
      await store.putCheckpoint(epoch, note)
      epochs.push({ epoch, members, body, note, size })
    }
  }
  const finish = async (): Promise<void> => {
    const e = chain.state.epoch.number
    while (chain.state.epoch.number === e) await block()
  }
  // Epoch 0: carol seals a snapshot; dave is exiled by vote (alice proposes, bob and carol agree).
  await block([
    chain.entry(CAROL, { kind: 'seal', root: ROOT_EARLY, size: 1000, chunks: 1, name: 'early.txt' }),
    chain.entry(ALICE, { kind: 'exile.propose', member: DAVE.key, reason: 'test' }),
    chain.entry(BOB, { kind: 'exile.vote', member: DAVE.key }),
    chain.entry(CAROL, { kind: 'exile.vote', member: DAVE.key }),
  ])
  await finish()
  // Epoch 1: alice and bob vouch for xavier, who joins at its close.
  const req = chain.request(XAVIER)
  await block([chain.entry(ALICE, { kind: 'induct.vouch', request: req }), chain.entry(BOB, { kind: 'induct.vouch', request: req })])
  await finish()
  // Epoch 2: alice seals the snapshot the tests prove.
  const sealEntry = chain.entry(ALICE, { kind: 'seal', ...snapshot })
  await block(opts.fork === true ? [sealEntry, chain.entry(BOB, { kind: 'announce', addrs: ['/ip4/127.0.0.1/tcp/1'] })] : [sealEntry])
  await finish()
  while (chain.state.epoch.number <= lastEpoch) await finish()
  return {
    dir,
    genesis,
    origin,
    store,
    chain,
    epochs,
    close: async () => {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
