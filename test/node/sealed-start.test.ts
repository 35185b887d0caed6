// Starting from a sealed checkpoint (src/node/sealed-start.ts, LedgerStore.adopt): a fresh store
// adopts what a real store serves, trusting only the genesis; the adopted store reopens, executes
// the blocks that follow, proves entries after its base and refuses, by name, what is below it;
// every forged part of an offer is refused with its own status; a kill -9 during adoption leaves
// the store at genesis or wholly adopted.

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatAuditProof, parseAuditProof, proveConsistency, proveEntry, verifyAuditProof, type AuditProof } from '../../src/audit/index.ts'
import { applyBlock } from '../../src/ledger/apply.ts'
import { certToCbor, makeCertificate, signVote, type Certificate } from '../../src/ledger/consensus/messages.ts'
import { decode, encode, type CborValue } from '../../src/ledger/encoding.ts'
import { bytesEqual } from '../../src/ledger/hash.ts'
import { consistencyProof, verifyConsistency } from '../../src/ledger/merkle.ts'
import { stateRoot } from '../../src/ledger/state.ts'
import { LedgerStore } from '../../src/ledger/store.ts'
import { cosign, formatCheckpoint, formatNote, parseCheckpoint, parseNote, type NoteSignature } from '../../src/ledger/tlog.ts'
import { Replica, syncRun, type SyncRequest } from '../../src/node/replica.ts'
import { fetchSealedStart, offerFromAnswer, serveSealed, serveState, verifyOffer, verifyState, type SealedStartStatus } from '../../src/node/sealed-start.ts'
import { ALICE, BOB, CAROL, DAVE, ROOT_SEALED, XAVIER, auditLedger, cosignAll, seedOf, type AuditLedger } from '../audit/ledger.ts'
import { GENESIS_TIME, makeGenesis, FOUNDERS, person } from '../ledger/fixtures.ts'
import { served, type Served } from './sealed-fixture.ts'

let l: AuditLedger
let s: Served
const dirs: string[] = []
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'troth-sealed-'))
  dirs.push(d)
  return d
}

beforeAll(async () => {
  l = await auditLedger({ lastEpoch: 3, certs: true })
  s = await served(l.store)
}, 60_000)
afterAll(async () => {
  await l.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** The whole check, as a fresh node makes it: the status, and the adoption when it passes. */
function check(x: Served, genesis = l.genesis): { status: SealedStartStatus; reason: string; adoption?: ReturnType<typeof verifyState> } {
  const v = verifyOffer(genesis, x.offer, x.block, x.cert)
  if (!v.ok) return { status: v.status, reason: v.reason }
  const st = verifyState(genesis, v.value, x.records)
  if (!st.ok) return { status: st.status, reason: st.reason }
  return { status: 'ok', reason: '', adoption: st }
}

const withProof = (f: (p: AuditProof) => AuditProof): Served => ({ ...s, offer: { ...s.offer, proof: formatAuditProof(f(parseAuditProof(s.offer.proof))) } })
/** The offer with the signature lines of its own checkpoint replaced. */
const resigned = (f: (sigs: NoteSignature[], body: string) => NoteSignature[]): Served =>
  withProof((p) => {
    const n = parseNote(p.checkpoint)
    return { ...p, checkpoint: formatNote(n.text, f(n.signatures, n.text)) }
  })
const TIME = GENESIS_TIME / 1000 + 5000

async function adoptFresh(x: Served = s): Promise<{ store: LedgerStore; dir: string }> {
  const r = check(x)
  expect(r.status, r.reason).toBe('ok')
  const dir = join(tempDir(), 'ledger')
  const store = await LedgerStore.open(dir, l.genesis)
  const a = r.adoption
  if (a === undefined || !a.ok) throw new Error('no adoption')
  await store.adopt(a.value)
  return { store, dir }
}

describe('a sealed start from a real store', () => {
  it('the server offers its newest sealed epoch, with the member chain of both membership changes', () => {
    expect(s.offer.epoch).toBe(3)
    expect(s.offer.records).toBe(s.records.length)
    expect(parseAuditProof(s.offer.proof).chain).toHaveLength(3) // dave out (epoch 0), xavier in (1), epoch 3
    expect(verifyAuditProof(s.offer.proof, l.genesis).verdict.status).toBe('ok')
  })

  it('adopted: the same state and chain position, reopened with its base, the next blocks execute, later entries prove, history below refused by name', async () => {
    const { store, dir } = await adoptFresh()
    const server = l.store.state
    expect(bytesEqual(stateRoot(store.state), stateRoot(server))).toBe(true)
    expect(store.state.meta).toEqual(server.meta)
    expect(store.state.epoch).toEqual(server.epoch)
    expect(store.base).toMatchObject({ epoch: 3, height: server.meta.height, logSize: server.meta.logSize })
    expect(await store.block(server.meta.height - 1)).toBeUndefined()
    await store.close()

    const again = await LedgerStore.open(dir, l.genesis) // LedgerStore.check passes on a based store
    expect(again.base?.height).toBe(server.meta.height)
    expect(again.state.meta).toEqual(server.meta)
    // The next epoch, executed on the adopted state itself (append runs applyBlock), then sealed.
    const epoch = l.chain.state.epoch.number
    const members = l.chain.state.epoch.validators.map((v) => v.id)
    let sealedSize = 0
    while (l.chain.state.epoch.number === epoch) {
      const built = l.chain.block(l.chain.state.meta.height === server.meta.height ? [l.chain.entry(BOB, { kind: 'announce', addrs: ['/ip4/127.0.0.1/tcp/9'] })] : [])
      const r = applyBlock(again.state, built.block)
      if (!r.ok) throw new Error(`${r.status} ${r.detail}`)
      // The epoch's last block with its finalization certificate, as a live node stores it.
      const cert = r.sealed === null ? null : encode(certToCbor(makeCertificate(members.map((id) => signVote(l.chain.net, seedOf(id), id, { kind: 'finalize', epoch, view: l.chain.view, parent: 0, digest: r.hash })))))
      await again.commitChain([{ block: built.block, applied: r }], cert)
      await l.store.append(built.block)
      if (built.applied.sealed !== null) sealedSize = built.applied.state.meta.logSize
    }
    expect(again.state.meta).toEqual(l.store.state.meta)
    const body = formatCheckpoint({ origin: l.origin, size: sealedSize, root: (await again.block(again.state.meta.height))!.logRoot })
    const note = formatNote(body, cosignAll(body, members, TIME))
    await again.putCheckpoint(epoch, note)
    await l.store.putCheckpoint(epoch, note)
    // Cosigning the next checkpoint checks that it extends the base: the frontier makes the proof.
    const base = again.base!
    const cp = parseCheckpoint(body)
    expect(verifyConsistency(base.logSize, cp.size, base.logRoot, cp.root, await consistencyProof(base.logSize, cp.size, again.nodes))).toBe(true)
    // An entry after the base proves from genesis: the base's member chain, then the rest.
    const bobs = base.logSize // bob's announcement is the first leaf after the base
    const proven = await proveEntry(again, { index: bobs })
    const verdict = verifyAuditProof(proven.text, l.genesis).verdict
    expect(verdict.status, verdict.reason).toBe('ok')
    expect(verdict.entry?.kind).toBe('announce')
    // The full node proves the same entry the same way.
    expect(verifyAuditProof((await proveEntry(l.store, { index: bobs })).text, l.genesis).verdict.status).toBe('ok')
    // The base's own epoch.seal leaf: the proof it adopted.
    expect((await proveEntry(again, { index: base.logSize - 1 })).text).toBe(s.offer.proof)
    // Below the base: a clear refusal naming it.
    await expect(proveEntry(again, { index: 1 })).rejects.toThrow(/started from the sealed checkpoint of epoch 3 .*log size \d+.* holds no history below it/)
    await expect(proveEntry(again, { root: ROOT_SEALED })).rejects.toThrow(/sealed in block \d+: this node started from the sealed checkpoint of epoch 3/)
    await expect(proveConsistency(again, 3)).rejects.toThrow(/from size 3: this node started from the sealed checkpoint/)
    expect((await proveConsistency(again, base.logSize)).size).toBe(cp.size)
    // Sync: blocks below the base are "not held" (an error, so the asker tries another peer).
    const replica = new Replica({ ledger: again } as unknown as ConstructorParameters<typeof Replica>[0])
    await expect(replica.serve({ t: 'blocks', from: 1 })).rejects.toThrow(/not held here: this node started from the sealed checkpoint of epoch 3/)
    expect(((await replica.serve({ t: 'blocks', from: base.height })) as { blocks: unknown[] }).blocks.length).toBeGreaterThan(0)
    // And it serves a sealed start itself: a third node adopts from the second.
    const next = await served(again)
    expect(next.offer.epoch).toBe(epoch)
    const third = await adoptFresh(next)
    expect(third.store.state.meta).toEqual(again.state.meta)
    await third.store.close()
    await again.close()
  })

  it('a store that is not at genesis refuses to adopt', async () => {
    const r = check(s)
    if (r.adoption === undefined || !r.adoption.ok) throw new Error('no adoption')
    await expect(l.store.adopt(r.adoption.value)).rejects.toMatchObject({ code: 'store.mismatch' })
  })
})

describe('every forged part of an offer is refused, with its reason', () => {
  const alice = (): [string, CborValue] => s.records.find(([k]) => k === `member/${ALICE.id}`) as [string, CborValue]
  const records = (f: (r: Array<[string, CborValue]>) => Array<[string, CborValue]>): Served => ({ ...s, records: f(s.records.map(([k, v]) => [k, v])) })
  const cert = (signers: string[]): Certificate => {
    const seeds = new Map([ALICE, BOB, CAROL, XAVIER, DAVE].map((p) => [p.id, p.seed]))
    return makeCertificate(signers.map((id) => signVote(l.chain.net, seeds.get(id) as Uint8Array, id, { kind: 'finalize', epoch: s.offer.epoch, view: 1, parent: 0, digest: s.cert.digest })))
  }
  const MALLORY = person('mallory')

  const cases: Array<[string, () => Served, SealedStartStatus, RegExp?]> = [
    ['nothing forged', () => s, 'ok'],
    ['a tampered state record (alice\'s seq)', () => records((r) => r.map(([k, v]) => (k === alice()[0] ? [k, { ...(v as Record<string, CborValue>), seq: 99 }] : [k, v]))), 'state-root-mismatch'],
    ['a state record that does not decode', () => records((r) => r.map(([k, v]) => (k === alice()[0] ? [k, { nonsense: 1 }] : [k, v]))), 'bad-state', /state record member\/.* is unreadable/],
    ['a state record left out (alice\'s)', () => ({ ...records((r) => r.filter(([k]) => k !== alice()[0])), offer: { ...s.offer, records: s.records.length - 1 } }), 'state-root-mismatch'],
    ['records out of key order', () => records((r) => [r[1]!, r[0]!, ...r.slice(2)]), 'bad-state', /strict key order/],
    ['a chain position among the records', () => records((r) => [...r.slice(0, -1), ['meta', 1]]), 'bad-state', /meta/],
    ['fewer records than offered', () => records((r) => r.slice(1)), 'bad-state', /were offered/],
    ['a wrong stateRoot in the epoch.seal leaf', () => withProof((p) => {
      const seal = decode(p.entry, { bytesMax: 1024 }) as Record<string, CborValue>
      return { ...p, entry: encode({ ...seal, stateRoot: new Uint8Array(32).fill(7) }) }
    }), 'inclusion-failed'],
    ['a quorum short by one cosignature (2 of 4 members)', () => resigned((sigs) => sigs.slice(0, 2)), 'no-quorum', /cosigned by 2 of the 4 members of epoch 3/],
    ['the smallest quorum (3 of 4 members)', () => resigned((sigs) => sigs.slice(0, 3)), 'ok'],
    ['a cosigner not in the epoch\'s set (dave, exiled at epoch 0)', () => resigned((sigs, body) => [...sigs, cosign(DAVE.seed, DAVE.id, TIME, body)].sort((a, b) => (a.name < b.name ? -1 : 1))), 'not-a-member', /not a member of epoch 3 \(it was a member in epochs 0–0\)/],
    ['a stranger\'s cosignature', () => resigned((sigs, body) => [...sigs.slice(0, 2), cosign(MALLORY.seed, MALLORY.id, TIME, body)]), 'not-a-member'],
    ['a cosignature that does not verify', () => resigned((sigs) => sigs.map((x, i) => (i === 0 ? { ...x, signature: x.signature.map((b, j) => (j === 20 ? b ^ 1 : b)) } : x))), 'bad-cosignature'],
    ['a forged validator-set chain step (mallory instead of xavier)', () => withProof((p) => ({ ...p, chain: p.chain.map((st, i) => (i === 1 && st.next !== null ? { ...st, next: st.next.map((v) => (v.id === XAVIER.id ? { ...v, id: MALLORY.id, key: MALLORY.key } : v)).sort((a, b) => (a.id < b.id ? -1 : 1)) } : st)) })), 'chain-broken'],
    ['a chain step left out (dave\'s exile)', () => withProof((p) => ({ ...p, chain: p.chain.slice(1).map((st, i) => (i === 0 ? { ...st, consistency: [] } : st)) })), 'chain-broken', /other members for epoch 1/],
    ['an offer whose proof is no audit proof', () => ({ ...s, offer: { ...s.offer, proof: 'hello' } }), 'malformed'],
    ['a frontier that does not fold to the root', () => ({ ...s, offer: { ...s.offer, frontier: s.offer.frontier.map((h, i) => (i === 0 ? h.map((b) => b ^ 0xff) : h)) } }), 'bad-frontier', /does not fold to the checkpoint's root/],
    ['a frontier of the wrong shape', () => ({ ...s, offer: { ...s.offer, frontier: s.offer.frontier.slice(1) } }), 'bad-frontier'],
    ['another block than the epoch\'s last', () => ({ ...s, offer: { ...s.offer, height: s.offer.height - 1 } }), 'block-mismatch'],
    ['a certificate short of a quorum', () => ({ ...s, cert: cert([ALICE.id, BOB.id].sort()) }), 'bad-certificate', /no-quorum/],
    ['a certificate by a non-validator', () => ({ ...s, cert: cert([ALICE.id, BOB.id, CAROL.id, DAVE.id].sort()) }), 'bad-certificate', /not-validator/],
    ['a certificate of another block', () => ({ ...s, cert: { ...s.cert, digest: new Uint8Array(32).fill(1) } }), 'bad-certificate', /not a finalization of block/],
  ]
  for (const [name, make, want, reason] of cases) {
    it(`${name}: ${want}`, () => {
      const r = check(make())
      expect(r.status, r.reason).toBe(want)
      if (reason !== undefined) expect(r.reason).toMatch(reason)
    })
  }

  it('a proof of an ordinary entry: not-the-seal', async () => {
    const other = (await proveEntry(l.store, { root: ROOT_SEALED })).text
    expect(check({ ...s, offer: { ...s.offer, proof: other } }).status).toBe('not-the-seal')
  })

  it('another network\'s genesis: wrong-origin', () => {
    expect(check(s, makeGenesis(FOUNDERS, { epochBlocks: 7 })).status).toBe('wrong-origin')
  })

  it('malformed offers are schema errors, before any check', () => {
    expect(() => offerFromAnswer({ offer: { epoch: 1 } })).toThrow(/res.offer/)
    expect(() => offerFromAnswer({ offer: { ...(encodeOffer() as Record<string, CborValue>), records: 0 } })).toThrow(/records/)
    expect(offerFromAnswer({ offer: null })).toBeNull()
  })
})

function encodeOffer(): CborValue {
  return { epoch: s.offer.epoch, height: s.offer.height, proof: s.offer.proof, frontier: [...s.offer.frontier], records: s.offer.records }
}

describe('fetching a sealed start from peers', () => {
  /** A peer answering sync requests from a store, as the daemon does; `lie` may change an answer. */
  const peer = (store: LedgerStore, lie: (req: SyncRequest, res: CborValue) => CborValue = (_q, r) => r) => async (req: SyncRequest): Promise<CborValue> => {
    let res: CborValue
    if (req.t === 'sealed') res = await serveSealed(store, req.epoch)
    else if (req.t === 'state') res = serveState(store, req.epoch, req.from, 4)
    else if (req.t === 'blocks') {
      const { blocks, top } = await syncRun(store, req.from)
      res = { blocks, cert: decode((await store.cert(top)) as Uint8Array, { bytesMax: 1 << 20 }) }
    } else throw new Error(`unexpected ${req.t}`)
    // As over the wire: canonical CBOR, strictly decoded.
    return decode(encode(lie(req, res)), { bytesMax: 1 << 24 })
  }
  const env = (peers: () => string[], answers: Record<string, (req: SyncRequest) => Promise<CborValue>>) => {
    const penalties: Array<[string, string]> = []
    const logged: string[] = []
    return {
      penalties,
      logged,
      env: {
        genesis: l.genesis,
        peers,
        ask: (p: string, req: SyncRequest) => (answers[p] as (req: SyncRequest) => Promise<CborValue>)(req),
        penalise: (p: string, reason: string) => penalties.push([p, reason]),
        log: (event: string) => logged.push(event),
        sleep: async () => undefined,
        now: () => Date.now(),
      },
    }
  }

  it('a lying peer is penalised with the reason and the next peer is asked; a peer that fails is passed over; none: null', async () => {
    const forged = (req: SyncRequest, res: CborValue): CborValue => {
      if (req.t !== 'state') return res
      const page = res as { records: Array<[string, CborValue]> }
      return { records: page.records.map(([k, v]) => (k === `member/${ALICE.id}` ? [k, { ...(v as Record<string, CborValue>), seq: 99 }] : [k, v])) }
    }
    let calls = 0
    // The liar is connected first, the honest peer a moment later; a third peer is down.
    const e = env(() => (calls++ < 2 ? ['liar'] : ['liar', 'down', 'honest']), {
      liar: peer(l.store, forged),
      down: async () => {
        throw new Error('net.timeout')
      },
      honest: peer(l.store),
    })
    const a = await fetchSealedStart(e.env)
    expect(a?.base.epoch).toBeGreaterThanOrEqual(3)
    expect(e.penalties).toHaveLength(1)
    expect(e.penalties[0]?.[0]).toBe('liar')
    expect(e.penalties[0]?.[1]).toMatch(/^sealed start: state-root-mismatch: /)
    expect(e.logged).toContain('sealed.refused')

    const none = env(() => ['empty', 'down'], { empty: async () => ({ offer: null }), down: async () => Promise.reject(new Error('reset')) })
    expect(await fetchSealedStart(none.env)).toBeNull()
    expect(none.penalties).toHaveLength(0)
  })
})

describe('crash safety of an adoption', () => {
  it('SIGKILL at any moment of an adoption leaves the store at genesis or wholly adopted', async () => {
    const outcomes = new Set<string>()
    for (let round = 0; round < 6; round++) {
      const dir = join(tempDir(), 'ledger')
      const child = spawn(process.execPath, [join(import.meta.dirname, 'adopt-writer.ts'), dir], { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      child.stderr.on('data', (d: Buffer) => (err += d.toString()))
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString()
          if (out.includes('ready') && !child.killed) {
            // From at once to after the batch has certainly landed.
            setTimeout(() => {
              child.kill('SIGKILL')
              resolve()
            }, [0, 1, 2, 4, 8, 200][round])
          }
        })
        child.on('exit', () => resolve())
      })
      await exited
      expect(err).toBe('')
      const store = await LedgerStore.open(dir, l.genesis)
      if (store.state.meta.height === 0) {
        outcomes.add('genesis')
        expect(store.base).toBeNull()
        expect(store.state.members.has(XAVIER.id)).toBe(false)
      } else {
        outcomes.add('adopted')
        expect(store.base?.height).toBe(s.offer.height)
        expect(store.state.meta.height).toBe(s.offer.height)
        expect(store.state.members.has(XAVIER.id)).toBe(true)
      }
      await store.close()
    }
    expect(outcomes.has('adopted')).toBe(true)
  }, 120_000)
})
