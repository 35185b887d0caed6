// A sealed start served from a real store (test/audit/ledger.ts: dave exiled at the close of epoch
// 0, xavier inducted at the close of epoch 1, checkpoints cosigned by every member, a
// finalization certificate with each block), as a fresh node receives it: the offer, the epoch's
// last block with its certificate, and the state records, paged.

import { certFromCbor, type Certificate } from '../../src/ledger/consensus/messages.ts'
import { decode, type CborValue } from '../../src/ledger/encoding.ts'
import type { LedgerStore } from '../../src/ledger/store.ts'
import { syncRun } from '../../src/node/replica.ts'
import { offerFromAnswer, pageFromAnswer, serveSealed, serveState, type SealedOffer } from '../../src/node/sealed-start.ts'

export interface Served {
  readonly offer: SealedOffer
  readonly block: Uint8Array
  readonly cert: Certificate
  readonly records: Array<[string, CborValue]>
}

/** What `store` serves for its newest sealed checkpoint (or `epoch`'s), state pages of `page` records. */
export async function served(store: LedgerStore, epoch: number | null = null, page = 4): Promise<Served> {
  const offer = offerFromAnswer(await serveSealed(store, epoch))
  if (offer === null) throw new Error('the store offers no sealed start')
  const run = await syncRun(store, offer.height)
  if (run.top !== offer.height || run.blocks.length !== 1) throw new Error(`block ${offer.height} is not served alone with its certificate`)
  const cert = certFromCbor(decode((await store.cert(offer.height)) as Uint8Array, { bytesMax: 1 << 20 }))
  const records: Array<[string, CborValue]> = []
  while (records.length < offer.records) records.push(...pageFromAnswer(serveState(store, offer.epoch, records.length, page)))
  return { offer, block: run.blocks[0] as Uint8Array, cert, records }
}
