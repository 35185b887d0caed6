// Prints the golden bytes that test/ledger/golden.test.ts pins (fixed seeds, fixed times).
// Regenerating them is a deliberate format change: update the test and docs/entries.md together.

import { encodeGenesis, genesisHash, genesisState } from '../src/ledger/genesis.ts'
import { buildBlock } from '../src/ledger/apply.ts'
import { signEntry, encodeSignedEntry } from '../src/ledger/entry.ts'
import { encodeBlock, blockHash } from '../src/ledger/block.ts'
import { makeRequest, signedRequestToCbor } from '../src/ledger/request.ts'
import { encode } from '../src/ledger/encoding.ts'
import { publicKeyOf } from '../src/identity/ed25519.ts'
import { sha256, toHex } from '../src/ledger/hash.ts'

export function golden(): Record<string, string> {
  const seed = sha256(new TextEncoder().encode('troth golden seed 1'))
  const key = publicKeyOf(seed)
  const genesis = encodeGenesis({ version: 1, name: 'golden', time: 1_700_000_000_000, founders: [{ key, name: 'ada', request: null }], policy: { epochBlocks: 10 } })
  const net = genesisHash(genesis)
  const entry = signEntry(seed, { net, author: key, seq: 1, time: 1_700_000_001_000, body: { kind: 'policy.vote', param: 'epochBlocks', value: 20 } })
  const leaf = encodeSignedEntry(entry)
  const request = encode(signedRequestToCbor(makeRequest(seed, { net, name: 'ada', expires: 1_800_000_000_000 })))
  // A valid block: built by the leader's own code on the genesis state.
  const block = buildBlock(genesisState(genesis), { proposer: key, time: 1_700_000_002_000 }, [leaf]).block
  return {
    publicKey: toHex(key),
    genesis: toHex(genesis),
    net: toHex(net),
    entry: toHex(entry.bytes),
    entrySig: toHex(entry.sig),
    leaf: toHex(leaf),
    request: toHex(request),
    block: toHex(encodeBlock(block)),
    blockHash: toHex(blockHash(block)),
  }
}

if (import.meta.main) console.log(JSON.stringify(golden(), null, 2))
