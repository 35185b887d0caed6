// Fuzzing blocks and the state transition (src/ledger/block.ts, src/ledger/apply.ts), the handler
// of every proposal and synced block: decodeBlock returns a block or throws a TrothError;
// applyBlock and checkEntry never throw on any block or entry, however hostile, and answer with a
// status from their closed lists; a leader's buildBlock over hostile candidates never throws and
// builds a block every replica accepts with the same hash.

import fc from 'fast-check'
import { describe } from 'vitest'
import { BLOCK_STATUSES, ENTRY_STATUSES, applyBlock, buildBlock, checkEntry } from '../../src/ledger/apply.ts'
import { decodeBlock, encodeBlock, type Block } from '../../src/ledger/block.ts'
import { encode, type CborValue } from '../../src/ledger/encoding.ts'
import { genesisState } from '../../src/ledger/genesis.ts'
import { bytesEqual } from '../../src/ledger/hash.ts'
import { ENTRY_BYTES_MAX } from '../../src/ledger/limits.ts'
import type { LedgerState } from '../../src/ledger/state.ts'
import { parseMemberId } from '../../src/identity/member-id.ts'
import { DECODE_CODES, attempt, fuzz } from './harness.ts'
import { applyStep, fieldValueArb, hostileBytes, mutatedBytes, shapedMapArb, stepArb } from './mutate.ts'
import * as corpus from './corpus.ts'
import { hostileSignedEntry } from './hostile.ts'

const BLOCK_KEYS = ['epoch', 'height', 'parent', 'proposer', 'time', 'entries', 'logSize', 'logRoot']

/** States to check against: genesis, and after each block of the scripted history. */
function states(): LedgerState[] {
  const c = corpus.chain()
  return [genesisState(corpus.makeGenesis(corpus.FOUNDERS, { epochBlocks: 5, inductionWindowMs: 0, inductionWindowFloorMs: 0, dutyWindowEpochs: 1000, missedEpochsMax: 1000 })), ...c.blocks.map((b) => b.applied.state)]
}

function candidatesArb(state: LedgerState): fc.Arbitrary<Uint8Array[]> {
  return fc.array(fc.oneof({ arbitrary: hostileSignedEntry(state), weight: 3 }, { arbitrary: hostileBytes(corpus.entryWires()), weight: 2 }), { maxLength: 6 })
}

function expectEntryStatus(status: string): void {
  if (!(ENTRY_STATUSES as readonly string[]).includes(status)) throw new Error(`entry status ${status} is not in ENTRY_STATUSES`)
}

describe('fuzz: blocks and the state transition', () => {
  const shapedBlock = shapedMapArb(BLOCK_KEYS, fc.oneof(fieldValueArb(), fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 3 }) as fc.Arbitrary<CborValue>)).map((m) => encode(m))
  fuzz('decodeBlock: hostile block bytes decode or fail with a TrothError; accepted blocks re-encode exactly', hostileBytes(corpus.blockBytes(), [shapedBlock]), (bytes) => {
    const r = attempt(() => decodeBlock(bytes), DECODE_CODES)
    if (r.ok && !bytesEqual(encodeBlock(r.value), bytes)) throw new Error('decodeBlock accepted bytes that re-encode differently')
  })

  const allStates = states()
  const blocks = corpus.chain().blocks.map((b) => b.block)
  // A block of the history, at its own parent state, with hostile bytes or one entry replaced.
  const blockAtParent = fc.record({
    h: fc.nat(blocks.length - 1),
    steps: fc.array(stepArb, { minLength: 1, maxLength: 3 }),
    entryOnly: fc.boolean(),
    at: fc.nat(),
  })
  fuzz('applyBlock: a mutated block (header or entries) at its parent state is applied or refused with a status, never a throw', blockAtParent, ({ h, steps, entryOnly, at }) => {
    const parent = allStates[h] as LedgerState
    const original = blocks[h] as Block
    let block: Block
    if (entryOnly && original.entries.length > 0) {
      const entries = [...original.entries]
      const i = at % entries.length
      entries[i] = steps.reduce((b, s) => applyStep(b, s, corpus.entryWires()), entries[i] as Uint8Array)
      block = { ...original, entries }
    } else {
      const bytes = steps.reduce((b, s) => applyStep(b, s, corpus.blockBytes()), encodeBlock(original))
      const r = attempt(() => decodeBlock(bytes), DECODE_CODES)
      if (!r.ok) return
      block = r.value
    }
    const r = applyBlock(parent, block)
    if (!(BLOCK_STATUSES as readonly string[]).includes(r.ok ? 'ok' : r.status)) throw new Error(`block status ${r.ok ? 'ok' : r.status} is not in BLOCK_STATUSES`)
  })

  fuzz(
    'checkEntry: hostile entries (mutated wires and signed hostile bodies) against any state get a status, never a throw',
    fc.nat(allStates.length - 1).chain((i) => fc.tuple(fc.constant(i), fc.oneof(hostileSignedEntry(allStates[i] as LedgerState), mutatedBytes(corpus.entryWires())), fc.oneof(fc.constant(0), fc.integer({ min: -1e10, max: 1e10 })))),
    ([i, wire, dt]) => {
      const state = allStates[i] as LedgerState
      expectEntryStatus(checkEntry(state, wire, Math.max(0, state.meta.lastTime + dt)).status)
    },
  )

  fuzz(
    'buildBlock over hostile candidates never throws; every replica accepts what the leader built, with the same hash',
    fc.nat(allStates.length - 1).chain((i) => fc.tuple(fc.constant(i), candidatesArb(allStates[i] as LedgerState), fc.nat(3_600_000))),
    ([i, candidates, dt]) => {
      const state = allStates[i] as LedgerState
      const proposer = parseMemberId((state.epoch.validators[0] as { id: string }).id)
      const built = buildBlock(state, { proposer, time: state.meta.lastTime + dt }, candidates.filter((c) => c.length <= ENTRY_BYTES_MAX))
      for (const r of built.rejected) expectEntryStatus(r.verdict.status)
      const again = applyBlock(state, decodeBlock(encodeBlock(built.block)))
      if (!again.ok) throw new Error(`a block the leader built was refused: ${again.status} ${again.detail}`)
      if (!bytesEqual(again.hash, built.applied.hash)) throw new Error('the built block applies to a different hash')
    },
  )
})

