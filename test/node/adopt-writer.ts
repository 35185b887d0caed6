// Child process for the adoption crash test: builds the audit ledger (deterministic), verifies
// its sealed start as a fresh node would, prints "ready", adopts it into the store at DIR (one
// synced batch) and prints "adopted". The parent kills it with SIGKILL somewhere in between.

import { LedgerStore } from '../../src/ledger/store.ts'
import { verifyOffer, verifyState } from '../../src/node/sealed-start.ts'
import { auditLedger } from '../audit/ledger.ts'
import { served } from './sealed-fixture.ts'

const dir = process.argv[2] as string
const l = await auditLedger({ lastEpoch: 3, certs: true })
const s = await served(l.store)
const v = verifyOffer(l.genesis, s.offer, s.block, s.cert)
if (!v.ok) throw new Error(`offer refused: ${v.status} ${v.reason}`)
const a = verifyState(l.genesis, v.value, s.records)
if (!a.ok) throw new Error(`state refused: ${a.status} ${a.reason}`)
const store = await LedgerStore.open(dir, l.genesis)
process.stdout.write('ready\n')
await store.adopt(a.value)
process.stdout.write('adopted\n')
await store.close()
await l.close()
