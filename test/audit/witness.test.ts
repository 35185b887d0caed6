// The witness (tlog-witness rules over troth checkpoints) on a real store file: a growing sequence
// accepted, a fork refused and kept as evidence, each refusal with its own answer, the state
// durable across reopen, one witness at a time.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { WITNESS_HTTP, WitnessStore, proveEntry, type WitnessStatus } from '../../src/audit/index.ts'
import { WITNESS_FILE, WITNESS_LOCK } from '../../src/audit/witness.ts'
import { consistencyProof } from '../../src/ledger/merkle.ts'
import { encodeGenesis } from '../../src/ledger/genesis.ts'
import { cosign, formatCheckpoint, formatConsistencyBody, formatNote, parseCheckpoint, parseNote } from '../../src/ledger/tlog.ts'
import { ALICE, BOB, XAVIER, auditLedger, cosignAll, type AuditLedger } from './ledger.ts'

let l: AuditLedger
let fork: AuditLedger
const dirs: string[] = []
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'troth-witness-'))
  dirs.push(d)
  return d
}
beforeAll(async () => {
  l = await auditLedger({ lastEpoch: 4 })
  fork = await auditLedger({ lastEpoch: 4, fork: true })
})
afterAll(async () => {
  await l.close()
  await fork.close()
})
afterEach(() => {
  while (dirs.length > 0) rmSync(dirs.pop() as string, { recursive: true, force: true })
})

/** The add-checkpoint body for epoch `e`'s checkpoint (optionally another note of it) from `old`. */
async function body(ledger: AuditLedger, old: number, e: number, note = ledger.epochs[e]!.note): Promise<string> {
  const size = ledger.epochs[e]!.size
  const proof = old === 0 || old === size ? [] : await consistencyProof(old, size, ledger.store.nodes)
  return formatConsistencyBody({ oldSize: old, proof, checkpoint: note })
}

async function add(store: WitnessStore, text: string, extra: { genesis?: Uint8Array; members?: string } = {}): Promise<{ status: WitnessStatus; reason: string; size?: number }> {
  const a = await store.add({ body: text, ...extra }, 1_700_000_000_000)
  expect(a.http).toBe(WITNESS_HTTP[a.status])
  return a
}

describe('troth witness', () => {
  it('accepts a growing sequence; a replay is accepted unchanged; an old size not its own is stale, answered with the size it holds', async () => {
    const store = await WitnessStore.open(tempDir())
    try {
      expect(await add(store, await body(l, 0, 0), { genesis: l.genesis })).toMatchObject({ status: 'ok', size: l.epochs[0]!.size })
      for (let e = 1; e < l.epochs.length; e++) {
        const a = await add(store, await body(l, l.epochs[e - 1]!.size, e))
        expect(a, a.reason).toMatchObject({ status: 'ok', size: l.epochs[e]!.size })
        expect(a.reason).toMatch(/grew from \d+ to \d+ entries, consistently/)
      }
      const top = l.epochs.at(-1)!
      expect(await add(store, await body(l, top.size, l.epochs.length - 1))).toMatchObject({ status: 'ok', reason: expect.stringMatching(/the one already held/) })
      // A client that does not know the witness's size sends 0 and learns it (409).
      expect(await add(store, await body(l, 0, 2))).toMatchObject({ status: 'stale', size: top.size, reason: expect.stringMatching(new RegExp(`holds the checkpoint of size ${top.size}.*ask for a consistency proof from ${top.size}`)) })
      expect(await add(store, await body(l, l.epochs[1]!.size, 2))).toMatchObject({ status: 'stale' })
      // An old size above the checkpoint's own.
      expect(await add(store, formatConsistencyBody({ oldSize: top.size + 5, proof: [], checkpoint: top.note }))).toMatchObject({ status: 'bad-request' })
      expect(store.list()).toHaveLength(1)
      expect(store.list()[0]).toMatchObject({ origin: l.origin, size: top.size, note: top.note })
    } finally {
      store.close()
    }
  })

  it('refuses a fork (inconsistent) and a second root for its size (conflict), keeping both as evidence', async () => {
    const dir = tempDir()
    const store = await WitnessStore.open(dir)
    try {
      await add(store, await body(l, 0, 1), { genesis: l.genesis })
      expect(await add(store, await body(l, l.epochs[1]!.size, 2))).toMatchObject({ status: 'ok' })
      // The fork's epoch-3 checkpoint, cosigned by the members, proved from our size in the fork's tree.
      const forked = await add(store, await body(fork, l.epochs[2]!.size, 3))
      expect(forked).toMatchObject({ status: 'inconsistent', size: l.epochs[2]!.size })
      expect(forked.reason).toMatch(/not a consistent extension of the witnessed checkpoint of size \d+.*the log has forked/)
      // A checkpoint of the size held, with another root, cosigned by the members.
      const e2 = l.epochs[2]!
      const other = formatCheckpoint({ origin: l.origin, size: e2.size, root: parseCheckpoint(fork.epochs[3]!.body).root })
      const conflict = await add(store, formatConsistencyBody({ oldSize: e2.size, proof: [], checkpoint: formatNote(other, cosignAll(other, e2.members.map((m) => m.id), 5)) }))
      expect(conflict).toMatchObject({ status: 'conflict', reason: expect.stringMatching(/^FORK: the checkpoint of size/) })
      expect(readdirSync(join(dir, 'evidence'))).toHaveLength(2)
      // Nothing moved: the ledger's next checkpoint still extends what is held.
      expect(await add(store, await body(l, e2.size, 3))).toMatchObject({ status: 'ok' })
    } finally {
      store.close()
    }
  })

  it('bad signatures are refused (403); the member set is learned from an audit proof of the checkpoint', async () => {
    const store = await WitnessStore.open(tempDir())
    try {
      await add(store, await body(l, 0, 0), { genesis: l.genesis })
      // A cosignature that does not verify.
      const e1 = l.epochs[1]!
      const sizePlus = e1.note.replace(`\n${e1.size}\n`, `\n${e1.size + 1}\n`)
      expect(await add(store, `old ${l.epochs[0]!.size}\n\n${sizePlus}`)).toMatchObject({ status: 'bad-signature', reason: expect.stringMatching(/does not verify over this checkpoint/) })
      await add(store, await body(l, l.epochs[0]!.size, 1))
      // Epoch 2's checkpoint cosigned by alice, bob and xavier: 3 of its 4 members, a seal; but the
      // witness knows the genesis members (alice, bob, carol, dave): only 2 of those 4.
      const e2 = l.epochs[2]!
      const fewer = formatNote(e2.body, [ALICE, BOB, XAVIER].map((p) => cosign(p.seed, p.id, 9, e2.body)).sort((a, b) => (a.name < b.name ? -1 : 1)))
      const b2 = await body(l, e1.size, 2, fewer)
      expect(await add(store, b2)).toMatchObject({ status: 'bad-signature', reason: expect.stringMatching(/cosigned by 2 of the 4 members.*--members/) })
      // An audit proof of that checkpoint (its own epoch.seal leaf) carries the member chain.
      const proof = (await proveEntry(l.store, { index: e2.size - 1 })).text
      expect(await add(store, b2, { members: proof })).toMatchObject({ status: 'ok', size: e2.size })
      expect(store.list()[0]).toMatchObject({ membersEpoch: 3 }) // the set that cosigns the next checkpoint, epoch 3's
      expect(store.list()[0]!.members.map((m) => m.id)).toContain(XAVIER.id)
      // From now on the set on record is epoch 2's: the same three suffice for epoch 3.
      const e3 = l.epochs[3]!
      const fewer3 = formatNote(e3.body, [ALICE, BOB, XAVIER].map((p) => cosign(p.seed, p.id, 9, e3.body)).sort((a, b) => (a.name < b.name ? -1 : 1)))
      expect(await add(store, await body(l, e2.size, 3, fewer3))).toMatchObject({ status: 'ok' })
      // A member proof of another checkpoint, or one that does not verify, is refused.
      const e4 = l.epochs[4]!
      expect(await add(store, await body(l, e3.size, 4), { members: proof })).toMatchObject({ status: 'bad-request', reason: expect.stringMatching(/member proof is for the checkpoint of size/) })
      expect(await add(store, await body(l, e3.size, 4), { members: proof.replace(/\nindex (\d+)\n/, '\nindex 1\n') })).toMatchObject({ status: 'bad-signature', reason: expect.stringMatching(/the member proof does not verify/) })
      expect(await add(store, await body(l, e3.size, 4))).toMatchObject({ status: 'ok', size: e4.size })
    } finally {
      store.close()
    }
  })

  it('an unknown log (404), the genesis of another log, and malformed input', async () => {
    const store = await WitnessStore.open(tempDir())
    try {
      expect(await add(store, await body(l, 0, 0))).toMatchObject({ status: 'unknown-origin', reason: expect.stringMatching(/does not know the log troth\/testcoop\/.*--genesis/) })
      const other = encodeGenesis({ version: 1, name: 'othercoop', time: 1, founders: [{ key: ALICE.key, name: 'alice', request: null }], policy: {} })
      expect(await add(store, await body(l, 0, 0), { genesis: other })).toMatchObject({ status: 'unknown-origin', reason: expect.stringMatching(/genesis given is for troth\/othercoop\//) })
      expect(await add(store, 'old 0\n')).toMatchObject({ status: 'malformed' })
      expect(await add(store, (await body(l, 0, 0)).replace('old 0', 'old 00'))).toMatchObject({ status: 'malformed' })
      expect(store.list()).toEqual([])
    } finally {
      store.close()
    }
  })

  it('its state survives a reopen; one witness at a time; a lock left by a dead process is taken over; a damaged file is refused', async () => {
    const dir = tempDir()
    let store = await WitnessStore.open(dir)
    await add(store, await body(l, 0, 2), { genesis: l.genesis })
    await expect(WitnessStore.open(dir)).rejects.toThrow(new RegExp(`in use by process ${process.pid}`))
    store.close()
    expect(existsSync(join(dir, WITNESS_LOCK))).toBe(false)
    store = await WitnessStore.open(dir)
    expect(store.list()[0]).toMatchObject({ size: l.epochs[2]!.size, note: l.epochs[2]!.note })
    expect(await add(store, await body(l, l.epochs[1]!.size, 1))).toMatchObject({ status: 'stale', size: l.epochs[2]!.size })
    store.close()
    // A lock whose process is gone (a witness killed mid-run) does not block the next one.
    writeFileSync(join(dir, WITNESS_LOCK), '2147483646\n')
    store = await WitnessStore.open(dir)
    expect(store.list()).toHaveLength(1)
    store.close()
    // The file on disk is JSON a person can read; damaged, it is refused with a clear message.
    const file = join(dir, WITNESS_FILE)
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ format: 'troth/witness/v1' })
    writeFileSync(file, readFileSync(file, 'utf8').replace(/"size": \d+/, '"size": 3'))
    await expect(WitnessStore.open(dir)).rejects.toThrow(/witness store .*the checkpoint note is unreadable/)
    writeFileSync(file, '{"format":')
    await expect(WitnessStore.open(dir)).rejects.toThrow(/it is not JSON/)
    expect(existsSync(join(dir, WITNESS_LOCK))).toBe(false)
    // parseNote is what the stored note must pass.
    expect(parseNote(l.epochs[2]!.note).signatures).toHaveLength(4)
  })
})
