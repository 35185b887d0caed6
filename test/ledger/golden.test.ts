// Golden bytes: our own formats pinned byte for byte (STYLE.md tests, layer 1). The values in
// test/vectors/golden.json come from scripts/golden.ts; changing them is a format change.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { golden } from '../../scripts/golden.ts'
import { decodeSignedEntry } from '../../src/ledger/entry.ts'
import { decodeBlock, encodeBlock } from '../../src/ledger/block.ts'
import { decodeGenesis } from '../../src/ledger/genesis.ts'
import { fromHex, toHex } from '../../src/ledger/hash.ts'

const pinned = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'vectors', 'golden.json'), 'utf8')) as Record<string, string>

describe('golden bytes', () => {
  it('today\'s encoders produce exactly the pinned bytes', () => {
    expect(golden()).toEqual(pinned)
  })

  it('the pinned bytes decode, and re-encode to themselves', () => {
    const s = decodeSignedEntry(fromHex(pinned.leaf as string))
    expect(toHex(s.bytes)).toBe(pinned.entry)
    expect(s.entry.body).toEqual({ kind: 'policy.vote', param: 'epochBlocks', value: 20 })
    expect(toHex(encodeBlock(decodeBlock(fromHex(pinned.block as string))))).toBe(pinned.block)
    expect(toHex(decodeGenesis(fromHex(pinned.genesis as string)).net)).toBe(pinned.net)
  })
})
