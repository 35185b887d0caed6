// The auditor commands as a user runs them (bin/troth as a child process), offline, on files
// exported from a real store that sealed a real directory: verdicts for people and for scripts,
// exit codes 0 / 3 / 1 / 2, and a witness whose state lives on between runs.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { proveConsistency, proveEntry } from '../../src/audit/index.ts'
import { consistencyProof } from '../../src/ledger/merkle.ts'
import { formatConsistencyBody } from '../../src/ledger/tlog.ts'
import { readSnapshot } from '../../src/obligation/index.ts'
import { auditLedger, type AuditLedger } from '../audit/ledger.ts'
import { troth } from './helpers.ts'

let dir: string
let l: AuditLedger
let fork: AuditLedger
const f = (name: string): string => join(dir, name)

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'troth-cli-audit-'))
  mkdirSync(f('minutes/2026'), { recursive: true })
  writeFileSync(f('minutes/2026/march.txt'), 'The cooperative met and agreed.\n')
  writeFileSync(f('minutes/readme'), Buffer.alloc(300_000, 7))
  const s = await readSnapshot(f('minutes'))
  l = await auditLedger({ snapshot: { root: s.root, size: s.size, chunks: s.chunks, name: s.name } })
  fork = await auditLedger({ fork: true })
  writeFileSync(f('coop.genesis'), l.genesis)
  writeFileSync(f('minutes.tlog-proof'), (await proveEntry(l.store, { root: s.root })).text)
  writeFileSync(f('first.tlog-proof'), (await proveEntry(l.store, { index: 2 })).text)
})
afterAll(async () => {
  await l.close()
  await fork.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('troth verify', () => {
  it('the sealed directory: VALID (exit 0), for people and with --json; one changed byte: NOT VALID (exit 3) naming the mismatch', () => {
    const ok = troth(['verify', f('minutes.tlog-proof'), '--genesis', f('coop.genesis'), '--path', f('minutes')])
    expect(ok.code, ok.stderr + ok.stdout).toBe(0)
    expect(ok.stdout).toMatch(/^VALID: the data is exactly the snapshot minutes\/ /)
    expect(ok.stdout).toMatch(/cosigned\s+by 4 of the epoch's 4 members, weight 4 of 4 \(more than 2\/3 needed\)/)
    expect(ok.stdout).toMatch(/members\s+followed from genesis through 3 sealed checkpoints; the member set changed at the close of epochs 0, 1/)
    const j = troth(['verify', f('minutes.tlog-proof'), '--genesis', f('coop.genesis'), '--path', f('minutes'), '--json'])
    expect(j.code).toBe(0)
    expect(JSON.parse(j.stdout)).toMatchObject({ valid: true, status: 'ok', entry: { kind: 'seal', snapshot: { name: 'minutes/' } }, data: { matches: true } })
    const text = readFileSync(f('minutes/2026/march.txt'))
    text[4]! ^= 0x20
    writeFileSync(f('minutes/2026/march.txt'), text)
    const bad = troth(['verify', f('minutes.tlog-proof'), '--genesis', f('coop.genesis'), '--path', f('minutes')])
    expect(bad.code).toBe(3)
    expect(bad.stdout).toMatch(/^NOT VALID \(snapshot-mismatch\): the data's snapshot root [0-9a-f]{64} differs from the sealed root [0-9a-f]{64}: same size \(\d+ bytes in 2 chunks\), different content/)
    expect(bad.stdout).toMatch(/data\s+root [0-9a-f]{64} .* DOES NOT MATCH/)
    text[4]! ^= 0x20
    writeFileSync(f('minutes/2026/march.txt'), text)
  })

  it('a proof that does not hold: exit 3 with its status; unusable input: exit 1 or 2', () => {
    const proof = readFileSync(f('minutes.tlog-proof'), 'utf8')
    writeFileSync(f('off-by-one.tlog-proof'), proof.replace(/\nindex (\d+)\n/, (_m, d: string) => `\nindex ${Number(d) + 1}\n`))
    const r = troth(['verify', f('off-by-one.tlog-proof'), '--genesis', f('coop.genesis'), '--json'])
    expect(r.code).toBe(3)
    expect(JSON.parse(r.stdout)).toMatchObject({ valid: false, status: 'inclusion-failed' })
    writeFileSync(f('latin1.tlog-proof'), Buffer.concat([Buffer.from(proof.slice(0, 30)), Buffer.from([0xff, 0xfe]), Buffer.from(proof.slice(30))]))
    expect(troth(['verify', f('latin1.tlog-proof'), '--genesis', f('coop.genesis')])).toMatchObject({ code: 3, stdout: expect.stringMatching(/^NOT VALID \(malformed\): .* is not UTF-8/) })
    // An entry that is not a seal, given data.
    expect(troth(['verify', f('first.tlog-proof'), '--genesis', f('coop.genesis'), '--path', f('minutes')])).toMatchObject({ code: 3, stdout: expect.stringMatching(/^NOT VALID \(not-a-seal\)/) })
    // The genesis of another network: not valid for this proof.
    writeFileSync(f('fork.genesis'), fork.genesis)
    // (the fork has the same genesis, so it verifies: the genesis is what decides the network)
    expect(troth(['verify', f('minutes.tlog-proof'), '--genesis', f('fork.genesis')]).code).toBe(0)
    expect(troth(['verify', f('minutes.tlog-proof'), '--genesis', f('minutes/readme')])).toMatchObject({ code: 1, stderr: expect.stringMatching(/is not a troth genesis/) })
    expect(troth(['verify', f('nope.tlog-proof'), '--genesis', f('coop.genesis')])).toMatchObject({ code: 1, stderr: expect.stringMatching(/does not exist/) })
    expect(troth(['verify', f('minutes.tlog-proof'), '--genesis', f('coop.genesis'), '--path', f('nowhere')])).toMatchObject({ code: 1, stderr: expect.stringMatching(/nowhere does not exist/) })
    expect(troth(['verify', f('minutes.tlog-proof')]).code).toBe(2)
  })

  it('troth inspect shows an audit proof', () => {
    const r = troth(['inspect', f('minutes.tlog-proof'), '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'audit-proof', chain: [{ nextMembers: 3 }, { nextMembers: 4 }, { nextMembers: null }], checkpoint: { kind: 'checkpoint' } })
  })
})

describe('troth verify-consistency and troth witness', () => {
  it('verify-consistency: the log only grew (exit 0); a fork (exit 3)', async () => {
    const [e1, last] = [l.epochs[1]!, l.epochs.at(-1)!]
    writeFileSync(f('e1.checkpoint'), e1.note)
    writeFileSync(f('last.checkpoint'), last.note)
    writeFileSync(f('e1-to-last.tlog-witness'), (await proveConsistency(l.store, e1.size)).text)
    const ok = troth(['verify-consistency', f('e1.checkpoint'), f('last.checkpoint'), f('e1-to-last.tlog-witness'), '--genesis', f('coop.genesis')])
    expect(ok.code, ok.stdout + ok.stderr).toBe(0)
    expect(ok.stdout).toMatch(new RegExp(`^CONSISTENT: the log only grew: the tree of ${e1.size} entries is a prefix of the tree of ${last.size} entries`))
    writeFileSync(f('e2.checkpoint'), l.epochs[2]!.note)
    writeFileSync(f('fork-last.checkpoint'), fork.epochs.at(-1)!.note)
    writeFileSync(f('e2-to-fork.tlog-witness'), (await proveConsistency(fork.store, l.epochs[2]!.size)).text)
    const forked = troth(['verify-consistency', f('e2.checkpoint'), f('fork-last.checkpoint'), f('e2-to-fork.tlog-witness'), '--json'])
    expect(forked.code).toBe(3)
    expect(JSON.parse(forked.stdout)).toMatchObject({ valid: false, status: 'inconsistent' })
  })

  it('witness add: a growing sequence accepted across runs (its state survives), a fork refused with a clear message (exit 3)', async () => {
    const store = f('witness')
    const bodyFor = async (old: number, e: number): Promise<string> => {
      const path = f(`add-${old}-${e}.tlog-witness`)
      const size = l.epochs[e]!.size
      writeFileSync(path, formatConsistencyBody({ oldSize: old, proof: old === 0 ? [] : await consistencyProof(old, size, l.store.nodes), checkpoint: l.epochs[e]!.note }))
      return path
    }
    expect(troth(['witness', 'add', await bodyFor(0, 0), '--store', store])).toMatchObject({ code: 3, stdout: expect.stringMatching(/^REFUSED \(unknown-origin, HTTP 404 in tlog-witness\): .*--genesis/) })
    const first = troth(['witness', 'add', await bodyFor(0, 0), '--store', store, '--genesis', f('coop.genesis')])
    expect(first.code, first.stdout + first.stderr).toBe(0)
    expect(first.stdout).toMatch(/^ACCEPTED: troth\/testcoop\/[0-9a-f]{64} grew from 0 to \d+ entries, consistently/)
    for (let e = 1; e < l.epochs.length; e++) {
      const r = troth(['witness', 'add', await bodyFor(l.epochs[e - 1]!.size, e), '--store', store, '--json'])
      expect(r.code, r.stdout).toBe(0)
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 'ok', http: 200, size: l.epochs[e]!.size })
    }
    // The fork's newest checkpoint, proved from what the witness holds, in the fork's tree.
    const top = l.epochs.at(-1)!
    const forkedPath = f('fork.tlog-witness')
    writeFileSync(forkedPath, formatConsistencyBody({ oldSize: top.size, proof: await consistencyProof(top.size, fork.epochs.at(-1)!.size, fork.store.nodes), checkpoint: fork.epochs.at(-1)!.note }))
    const refused = troth(['witness', 'add', forkedPath, '--store', store])
    expect(refused.code).toBe(3)
    expect(refused.stdout).toMatch(/^REFUSED \((inconsistent|conflict), HTTP (422|409) in tlog-witness\): /)
    expect(refused.stdout).toMatch(/fork/i)
    // An older one: stale, the size held in the answer.
    expect(troth(['witness', 'add', await bodyFor(0, 1), '--store', store])).toMatchObject({ code: 3, stdout: expect.stringMatching(new RegExp(`^REFUSED \\(stale, HTTP 409 in tlog-witness\\): this witness holds the checkpoint of size ${top.size}`)) })
    const shown = troth(['witness', 'show', '--store', store, '--json'])
    expect(shown.code).toBe(0)
    expect(JSON.parse(shown.stdout)).toMatchObject({ logs: [{ origin: l.origin, size: top.size, checkpoint: top.note }] })
    expect(troth(['witness', 'show', '--store', f('no-witness-here')]).code).toBe(1)
  })
})
