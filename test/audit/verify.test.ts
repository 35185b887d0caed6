// Audit proofs built from a real store (test/audit/ledger.ts: dave exiled at the close of epoch
// 0, xavier inducted at the close of epoch 1) and verified offline; every mutation of the proof
// fails, the named ones each with their own status.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatAuditProof, parseAuditProof, proveEntry, verifyAuditProof, AUDIT_PROOF_BYTES_MAX, type AuditProof, type AuditStatus } from '../../src/audit/index.ts'
import { cosign, formatCheckpoint, formatNote, parseCheckpoint, parseNote, type NoteSignature } from '../../src/ledger/tlog.ts'
import { encodeGenesis } from '../../src/ledger/genesis.ts'
import { toHex } from '../../src/ledger/hash.ts'
import { GENESIS_TIME } from '../ledger/fixtures.ts'
import { ALICE, BOB, CAROL, DAVE, XAVIER, ROOT_EARLY, ROOT_SEALED, auditLedger, cosignAll, seedOf, type AuditLedger } from './ledger.ts'

let l: AuditLedger
let text = ''
beforeAll(async () => {
  l = await auditLedger()
  text = (await proveEntry(l.store, { root: ROOT_SEALED })).text
})
afterAll(async () => {
  await l.close()
})

const edit = (f: (p: AuditProof) => AuditProof): string => formatAuditProof(f(parseAuditProof(text)))
const status = (t: string, genesis = l.genesis): AuditStatus => verifyAuditProof(t, genesis).verdict.status
/** Replaces the signature lines of the proof's own checkpoint. */
const resign = (f: (sigs: NoteSignature[], body: string) => NoteSignature[]): string =>
  edit((p) => {
    const n = parseNote(p.checkpoint)
    return { ...p, checkpoint: formatNote(n.text, f(n.signatures, n.text)) }
  })
const TIME = GENESIS_TIME / 1000 + 1000

describe('audit proofs from a store', () => {
  it('the store indexes every epoch.seal leaf and every change of the member set', async () => {
    for (const e of l.epochs) {
      expect(await l.store.sealIndex(e.epoch)).toBe(e.size - 1)
      expect((await l.store.validatorsOf(e.epoch)).map((v) => v.id)).toEqual(e.members.map((v) => v.id))
    }
    expect(await l.store.sealIndex(99)).toBeUndefined()
    expect(await l.store.membershipChanges(l.chain.state.epoch.number)).toEqual([1, 2]) // dave out, xavier in
    expect((await l.store.validatorsOf(1)).map((v) => v.id)).not.toContain(DAVE.id)
    expect((await l.store.validatorsOf(2)).map((v) => v.id)).toContain(XAVIER.id)
  })

  it('a sealed snapshot, by root: valid, its member chain followed from genesis through both changes', () => {
    const r = verifyAuditProof(text, l.genesis)
    expect(r.verdict).toMatchObject({ valid: true, status: 'ok', network: 'testcoop', origin: l.origin })
    expect(r.verdict.chain).toEqual([
      { epoch: 0, size: l.epochs[0]!.size, members: 4, changed: true },
      { epoch: 1, size: l.epochs[1]!.size, members: 3, changed: true },
      { epoch: 2, size: l.epochs[2]!.size, members: 4, changed: false },
    ])
    expect(r.verdict.checkpoint).toMatchObject({ epoch: 2, size: l.epochs[2]!.size, members: 4, weight: 4000, totalWeight: 4000 })
    expect(r.verdict.checkpoint?.cosigners.map((c) => c.id).sort()).toEqual([ALICE.id, BOB.id, CAROL.id, XAVIER.id].sort())
    expect(r.verdict.entry).toMatchObject({ kind: 'seal', author: ALICE.id, signature: 'valid', snapshot: { root: toHex(ROOT_SEALED), name: 'minutes/', size: 300_000, chunks: 2 } })
    // Standard parts: a tlog-proof of the entry in the checkpoint, which holds only member cosignatures.
    expect(text.split('\n')[0]).toBe('c2sp.org/tlog-proof@v1')
    expect(parseCheckpoint(parseNote(parseAuditProof(text).checkpoint).text).size).toBe(l.epochs[2]!.size)
  })

  it('every entry of the log, by index, from the genesis (leaf 0) to the last epoch.seal leaf', async () => {
    const size = l.epochs.at(-1)!.size
    const kinds = new Set<string>()
    for (let i = 0; i < size; i++) {
      const p = await proveEntry(l.store, { index: i })
      const v = verifyAuditProof(p.text, l.genesis).verdict
      expect(v.valid, `entry ${i}: ${v.reason}`).toBe(true)
      // The first sealed checkpoint that covers it.
      expect(p.epoch).toBe(l.epochs.find((e) => e.size > i)!.epoch)
      kinds.add(v.entry!.kind)
    }
    expect([...kinds].sort()).toEqual(['announce', 'epoch.seal', 'exile.propose', 'exile.vote', 'genesis', 'induct.vouch', 'seal'].filter((k) => kinds.has(k)))
    expect(kinds).toContain('genesis')
    expect(kinds).toContain('epoch.seal')
    expect(kinds).toContain('seal')
  })

  it('refuses to prove what it cannot: an unknown root, an index past the log, an entry no checkpoint covers yet', async () => {
    await expect(proveEntry(l.store, { root: new Uint8Array(32).fill(9) })).rejects.toThrow(/no sealed snapshot 0909/)
    await expect(proveEntry(l.store, { index: 10_000 })).rejects.toThrow(/not in the log/)
    await expect(proveEntry(l.store, { index: -1 })).rejects.toThrow(/not in the log/)
    const fresh = await auditLedger({ lastEpoch: 2 })
    try {
      // Entries of the open epoch: one block of it is there, its checkpoint is not.
      const c = fresh.chain
      const built = c.block([c.entry(BOB, { kind: 'announce', addrs: [] })])
      await fresh.store.commit(built.block, built.applied)
      await expect(proveEntry(fresh.store, { index: fresh.store.state.meta.logSize - 1 })).rejects.toThrow(/not covered by a sealed checkpoint yet/)
    } finally {
      await fresh.close()
    }
  })

  it('checks the data against the sealed snapshot: same root valid, any other root a mismatch naming both', () => {
    const same = verifyAuditProof(text, l.genesis, { root: ROOT_SEALED, size: 300_000, chunks: 2, name: 'minutes/' }).verdict
    expect(same).toMatchObject({ valid: true, data: { matches: true } })
    expect(same.reason).toMatch(/^the data is exactly the snapshot minutes\//)
    const other = new Uint8Array(ROOT_SEALED)
    other[31]! ^= 1
    const off = verifyAuditProof(text, l.genesis, { root: other, size: 300_000, chunks: 2, name: 'minutes/' }).verdict
    expect(off).toMatchObject({ valid: false, status: 'snapshot-mismatch', data: { matches: false } })
    expect(off.reason).toContain(toHex(other))
    expect(off.reason).toContain(toHex(ROOT_SEALED))
    expect(off.reason).toMatch(/same size \(300000 bytes in 2 chunks\), different content/)
    const bigger = verifyAuditProof(text, l.genesis, { root: other, size: 300_001, chunks: 2, name: 'minutes.txt' }).verdict
    expect(bigger.reason).toMatch(/the data is a file, the sealed snapshot a directory; the data is 300001 bytes in 2 chunks, the sealed snapshot 300000 bytes/)
  })

  it('data against an entry that is not a seal: not-a-seal', async () => {
    const p = await proveEntry(l.store, { index: 2 })
    const v = verifyAuditProof(p.text, l.genesis, { root: ROOT_SEALED, size: 1, chunks: 1, name: 'x' }).verdict
    expect(v).toMatchObject({ valid: false, status: 'not-a-seal' })
  })

  it('the earlier snapshot, sealed before dave was exiled, proves in epoch 0 with a chain of one step', async () => {
    const p = await proveEntry(l.store, { root: ROOT_EARLY })
    expect(p).toMatchObject({ epoch: 0, steps: 1 })
    expect(verifyAuditProof(p.text, l.genesis).verdict).toMatchObject({ valid: true, checkpoint: { epoch: 0, members: 4 } })
  })
})

describe('every mutation fails', () => {
  it('a flipped bit anywhere in the file: every byte, one bit each (cycling through the eight)', () => {
    const bytes = Buffer.from(text, 'utf8')
    const seen = new Map<string, number>()
    for (let i = 0; i < bytes.length; i++) {
      const b = Buffer.from(bytes)
      b[i]! ^= 1 << (i % 8)
      // The file as an auditor reads it: bytes, strictly UTF-8 (a bad byte is a malformed file).
      let t: string
      try {
        t = new TextDecoder('utf-8', { fatal: true }).decode(b)
      } catch {
        seen.set('not UTF-8', (seen.get('not UTF-8') ?? 0) + 1)
        continue
      }
      const v = verifyAuditProof(t, l.genesis).verdict
      expect(v.valid, `bit ${i % 8} of byte ${i} (${JSON.stringify(text.slice(Math.max(0, i - 10), i + 10))}) accepted`).toBe(false)
      seen.set(v.status, (seen.get(v.status) ?? 0) + 1)
    }
    // Many ways to fail, each one named.
    for (const s of ['malformed', 'bad-cosignature', 'inclusion-failed', 'chain-broken']) expect(seen.get(s) ?? 0, `${[...seen]}`).toBeGreaterThan(0)
  }, 120_000)

  it('the named mutations fail, each with its own status and a reason that says what', () => {
    const cases: Record<string, { text: string; genesis?: Uint8Array; status: AuditStatus; reason: RegExp }> = {
      'index + 1': { text: edit((p) => ({ ...p, index: p.index + 1 })), status: 'inclusion-failed', reason: /inclusion proof of entry \d+ does not verify/ },
      'size + 1 in the checkpoint': {
        text: edit((p) => {
          const n = parseNote(p.checkpoint)
          const c = parseCheckpoint(n.text)
          return { ...p, checkpoint: formatNote(formatCheckpoint({ ...c, size: c.size + 1 }), n.signatures) }
        }),
        status: 'bad-cosignature',
        reason: /does not verify over this checkpoint/,
      },
      'two of four cosignatures removed': { text: resign((s) => s.slice(2)), status: 'no-quorum', reason: /cosigned by 2 of the 4 members of epoch 2, holding 2000 of 4000 weight; a seal needs more than 2\/3/ },
      'dave (exiled at the close of epoch 0) cosigns epoch 2': {
        text: resign((s, body) => [...s, cosign(DAVE.seed, DAVE.id, TIME, body)]),
        status: 'not-a-member',
        reason: new RegExp(`${DAVE.id} cosigned, but is not a member of epoch 2 \\(it was a member in epochs 0–0\\)`),
      },
      'alice twice': { text: resign((s, body) => [...s, cosign(ALICE.seed, ALICE.id, TIME + 1, body)]), status: 'duplicate-cosigner', reason: new RegExp(`member ${ALICE.id} cosigned twice`) },
      'a checkpoint for another origin, cosigned by the members': {
        text: edit((p) => {
          const c = parseCheckpoint(parseNote(p.checkpoint).text)
          const body = formatCheckpoint({ ...c, origin: 'troth/othercoop/' + '00'.repeat(32) })
          return { ...p, checkpoint: formatNote(body, cosignAll(body, [ALICE.id, BOB.id, CAROL.id, XAVIER.id], TIME)) }
        }),
        status: 'wrong-origin',
        reason: /is for the log "troth\/othercoop\/0000.*but the genesis given is for troth\/testcoop\//,
      },
      'the genesis of another network': { text, genesis: encodeGenesis({ version: 1, name: 'othercoop', time: GENESIS_TIME, founders: [{ key: ALICE.key, name: 'alice', request: null }], policy: {} }), status: 'wrong-origin', reason: /genesis given is for troth\/othercoop\// },
      'the step where dave left the member set left out': {
        text: edit((p) => ({ ...p, chain: p.chain.slice(1).map((s, i) => (i === 0 ? { ...s, consistency: [] } : s)) })),
        status: 'chain-broken',
        reason: /the ledger names other members for epoch 1 than the 4 this proof followed from epoch 0/,
      },
      'the step where xavier joined left out': {
        text: edit((p) => ({ ...p, chain: [p.chain[0]!, p.chain[2]!] })),
        status: 'not-a-member',
        reason: new RegExp(`${XAVIER.id} cosigned, but is not a member of epoch 2 \\(it is not a member anywhere in this chain\\)`),
      },
      'another member set carried for epoch 1': {
        text: edit((p) => ({ ...p, chain: p.chain.map((s, i) => (i === 0 ? { ...s, next: [...(s.next ?? [])].slice(1) } : s)) })),
        status: 'chain-broken',
        reason: /the member set carried for epoch 1 is not the one its epoch.seal leaf names/,
      },
      'a consistency proof between steps altered': {
        text: edit((p) => ({ ...p, chain: p.chain.map((s, i) => (i === 1 ? { ...s, consistency: s.consistency.map((h, j) => (j === 0 ? h.map((x) => x ^ 0xff) : h)) } : s)) })),
        status: 'inconsistent',
        reason: /is not a consistent extension of the checkpoint of epoch 0/,
      },
      'a line that is no member\'s cosignature': { text: resign((s, body) => [...s, { ...cosign(seedOf(ALICE.id), 'auditor.example/w1', TIME, body) }]), status: 'not-a-member', reason: /"auditor.example\/w1" is not a cosignature of a member of epoch 2/ },
      'not a troth audit proof (no extra)': { text: text.replace(/^extra [^\n]*\n/m, ''), status: 'malformed', reason: /no "extra" line/ },
    }
    for (const [name, c] of Object.entries(cases)) {
      const v = verifyAuditProof(c.text, c.genesis ?? l.genesis).verdict
      expect([name, v.status], v.reason).toEqual([name, c.status])
      expect(v.reason, name).toMatch(c.reason)
      expect(v.valid).toBe(false)
    }
    // Removing one of four keeps 3000 of 4000: still more than 2/3.
    expect(status(resign((s) => s.slice(1)))).toBe('ok')
    // The six mutations each have a status of their own.
    const six = ['index + 1', 'size + 1 in the checkpoint', 'two of four cosignatures removed', 'dave (exiled at the close of epoch 0) cosigns epoch 2', 'alice twice', 'a checkpoint for another origin, cosigned by the members'].map((n) => cases[n]!.status)
    expect(new Set(six).size).toBe(6)
  })

  it('a size changed and cosigned again by every member still fails: its last leaf is no longer its epoch.seal', () => {
    const t = edit((p) => {
      const c = parseCheckpoint(parseNote(p.checkpoint).text)
      const body = formatCheckpoint({ ...c, size: c.size + 1 })
      return { ...p, checkpoint: formatNote(body, cosignAll(body, [ALICE.id, BOB.id, CAROL.id, XAVIER.id], TIME)) }
    })
    expect(verifyAuditProof(t, l.genesis).verdict).toMatchObject({ status: 'chain-broken', reason: expect.stringMatching(/not the checkpoint's last leaf|does not verify against the checkpoint/) })
  })

  it('malformed files: garbage, truncated, oversized', () => {
    expect(status('hello\n')).toBe('malformed')
    expect(status(text.slice(0, text.length - 5))).toBe('malformed')
    expect(status(text.slice(0, 200))).toBe('malformed')
    expect(status(`${text}${'x'.repeat(AUDIT_PROOF_BYTES_MAX)}`)).toBe('malformed')
    expect(() => verifyAuditProof(text, new Uint8Array([1, 2, 3]))).toThrow() // a bad genesis is the auditor's error, not a verdict
  })
})
