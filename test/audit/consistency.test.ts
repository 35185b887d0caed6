// Append-only proofs from a real store (tlog-witness body format) and their offline check; a
// fork of the same history (same genesis, another epoch 2) is caught.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { proveConsistency, verifyConsistencyFiles } from '../../src/audit/index.ts'
import { formatCheckpoint, formatNote, parseCheckpoint, parseConsistencyBody, parseNote } from '../../src/ledger/tlog.ts'
import { auditLedger, cosignAll, type AuditLedger } from './ledger.ts'

let l: AuditLedger
let fork: AuditLedger
beforeAll(async () => {
  l = await auditLedger({ lastEpoch: 4 })
  fork = await auditLedger({ lastEpoch: 4, fork: true })
})
afterAll(async () => {
  await l.close()
  await fork.close()
})

describe('prove-consistency and verify-consistency', () => {
  it('the fork shares epochs 0 and 1 with the ledger, then differs', () => {
    expect(fork.epochs[1]!.note).toBe(l.epochs[1]!.note)
    expect(fork.epochs[2]!.body).not.toBe(l.epochs[2]!.body)
  })

  it('from every old size to the newest sealed checkpoint: a tlog-witness body that verifies', async () => {
    const newest = l.epochs.at(-1)!
    for (let old = 0; old <= newest.size; old++) {
      const p = await proveConsistency(l.store, old)
      expect(p).toMatchObject({ oldSize: old, size: newest.size, epoch: newest.epoch })
      const body = parseConsistencyBody(p.text)
      expect(body.oldSize).toBe(old)
      expect(body.checkpoint).toBe(newest.note)
      expect(p.text.startsWith(`old ${old}\n`)).toBe(true)
    }
    // Between sealed checkpoints, as an auditor holds them.
    for (const older of l.epochs) {
      const p = await proveConsistency(l.store, older.size)
      const v = verifyConsistencyFiles(older.note, newest.note, p.text)
      expect(v, v.reason).toMatchObject({ valid: true, status: 'ok', origin: l.origin, old: { size: older.size }, new: { size: newest.size } })
      expect(v.new?.cosigners).toHaveLength(newest.members.length)
    }
    // Bare checkpoint bodies work too; so does the genesis check.
    const p = await proveConsistency(l.store, l.epochs[0]!.size)
    expect(verifyConsistencyFiles(l.epochs[0]!.body, newest.body, p.text, l.genesis).valid).toBe(true)
    await expect(proveConsistency(l.store, newest.size + 1)).rejects.toThrow(/larger than the newest sealed checkpoint/)
  })

  it('refuses, each with its reason: a fork, a tampered proof, a mismatched pair, a shrink, another log', async () => {
    const newest = l.epochs.at(-1)!
    const fromOne = (await proveConsistency(l.store, l.epochs[1]!.size)).text
    // The fork's newest checkpoint, proved from the common epoch 1 in the fork's own tree, checked
    // against the ledger's epoch-2 checkpoint: inconsistent.
    const forkProof = (await proveConsistency(fork.store, l.epochs[2]!.size)).text
    const forked = verifyConsistencyFiles(l.epochs[2]!.note, fork.epochs.at(-1)!.note, forkProof)
    expect(forked).toMatchObject({ valid: false, status: 'inconsistent', reason: expect.stringMatching(/is not a consistent extension of the one of size/) })
    // From epoch 1 (shared) the fork is a consistent extension: what differs came later.
    expect(verifyConsistencyFiles(l.epochs[1]!.note, fork.epochs.at(-1)!.note, (await proveConsistency(fork.store, l.epochs[1]!.size)).text).valid).toBe(true)
    // Same size, other root.
    const e2 = l.epochs[2]!
    const otherRoot = formatCheckpoint({ origin: l.origin, size: e2.size, root: parseCheckpoint(fork.epochs[2]!.body).root })
    const conflicting = formatNote(otherRoot, cosignAll(otherRoot, e2.members.map((m) => m.id), 1))
    const twoOfSameSize = `old ${e2.size}\n\n${conflicting}`
    expect(verifyConsistencyFiles(e2.note, conflicting, twoOfSameSize)).toMatchObject({ status: 'inconsistent', reason: expect.stringMatching(/^FORK: two checkpoints of size/) })
    // A flipped proof hash.
    const lines = fromOne.split('\n')
    lines[1] = Buffer.from(Buffer.from(lines[1]!, 'base64').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64')
    expect(verifyConsistencyFiles(l.epochs[1]!.note, newest.note, lines.join('\n')).status).toBe('inconsistent')
    // The proof is for another pair.
    expect(verifyConsistencyFiles(l.epochs[0]!.note, newest.note, fromOne)).toMatchObject({ status: 'mismatch', reason: expect.stringMatching(/PROOF starts from size \d+, but OLD_CHECKPOINT has size/) })
    expect(verifyConsistencyFiles(l.epochs[1]!.note, l.epochs[3]!.note, fromOne)).toMatchObject({ status: 'mismatch', reason: expect.stringMatching(/^PROOF proves the checkpoint of size/) })
    // New older than old.
    const back = `old ${newest.size}\n\n${l.epochs[1]!.note}`
    expect(verifyConsistencyFiles(newest.note, l.epochs[1]!.note, back)).toMatchObject({ status: 'inconsistent', reason: expect.stringMatching(/smaller than OLD_CHECKPOINT/) })
    // A cosignature line that does not verify.
    const n = parseNote(newest.note)
    const tampered = newest.note.replace(n.text, n.text.replace(/\n(\d+)\n/, (_m, d: string) => `\n${Number(d) + 1}\n`))
    expect(verifyConsistencyFiles(l.epochs[1]!.note, tampered, fromOne).status).toMatch(/^(bad-cosignature|mismatch)$/)
    expect(verifyConsistencyFiles(l.epochs[1]!.body, tampered, `old ${l.epochs[1]!.size}\n\n${tampered}`).status).toBe('bad-cosignature')
    // Another log, and garbage.
    expect(verifyConsistencyFiles(l.epochs[1]!.note, newest.note, fromOne, fork.genesis).status).toBe('ok') // the fork has the same genesis
    const other = (await import('../../src/ledger/genesis.ts')).encodeGenesis({ version: 1, name: 'elsewhere', time: 1, founders: [{ key: new Uint8Array(l.chain.state.epoch.validators[0]!.key), name: 'a', request: null }], policy: {} })
    expect(verifyConsistencyFiles(l.epochs[1]!.note, newest.note, fromOne, other)).toMatchObject({ status: 'wrong-origin' })
    expect(verifyConsistencyFiles('nonsense', newest.note, fromOne)).toMatchObject({ status: 'malformed', reason: expect.stringMatching(/^OLD_CHECKPOINT: /) })
    expect(verifyConsistencyFiles(l.epochs[1]!.note, newest.note, 'old x\n\n')).toMatchObject({ status: 'malformed', reason: expect.stringMatching(/^PROOF: /) })
  })
})
