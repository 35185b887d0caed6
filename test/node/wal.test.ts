// The vote WAL on a real file: appends run in the thread pool yet land whole and in order,
// prune() rewrites only once old epochs' votes pile up, and what was appended loads back; the
// last tree cosigned, kept beside it, survives a reopen and a damaged copy is refused.

import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { publicKeyOf } from '../../src/identity/ed25519.ts'
import { formatMemberId } from '../../src/identity/member-id.ts'
import { TrothError } from '../../src/errors.ts'
import { encode } from '../../src/ledger/encoding.ts'
import { sha256 } from '../../src/ledger/hash.ts'
import { signVote, type Vote } from '../../src/ledger/consensus/messages.ts'
import { FileWal, WAL_PRUNE_MIN_OLD_VOTES } from '../../src/node/wal.ts'

const seed = sha256(new TextEncoder().encode('wal test'))
const id = formatMemberId(publicKeyOf(seed))
const net = sha256(new TextEncoder().encode('net'))

function vote(epoch: number, view: number): Vote {
  return signVote(net, seed, id, { kind: 'notarize', epoch, view, parent: view - 1, digest: sha256(new Uint8Array([view & 0xff, view >> 8])) })
}

const dirs: string[] = []
function walPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'troth-wal-'))
  dirs.push(dir)
  return join(dir, 'votes.wal')
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const key = (v: Vote): string => `${v.epoch}/${v.view}`

/** What a fresh open of the file loads (closed again, not left to the garbage collector). */
async function loadOnce(path: string): Promise<Vote[]> {
  const wal = new FileWal(path)
  try {
    return await wal.load()
  } finally {
    await wal.close()
  }
}

describe('vote WAL', () => {
  it('appends started together all land, whole and in call order, and load back', async () => {
    const path = walPath()
    const wal = new FileWal(path)
    await wal.load()
    const votes = Array.from({ length: 200 }, (_, i) => vote(0, i + 1))
    await Promise.all(votes.map((v) => wal.append(v)))
    await wal.close()
    const again = await loadOnce(path)
    expect(again.map(key)).toEqual(votes.map(key))
  })

  it('prune keeps old epochs until enough pile up, then rewrites the file with the current ones only', async () => {
    const path = walPath()
    const wal = new FileWal(path)
    await wal.load()
    for (let i = 1; i <= 10; i++) await wal.append(vote(0, i))
    await wal.append(vote(1, 1))
    const before = statSync(path).size
    await wal.prune(1)
    expect(statSync(path).size).toBe(before) // 10 old votes: not worth three syncs
    expect((await loadOnce(path)).length).toBe(11)

    const old = Array.from({ length: WAL_PRUNE_MIN_OLD_VOTES }, (_, i) => vote(1, i + 2))
    await Promise.all(old.map((v) => wal.append(v)))
    await wal.append(vote(2, 1))
    await wal.prune(2)
    const kept = await loadOnce(path)
    expect(kept.map(key)).toEqual(['2/1'])
    // Appends after a prune go to the new file.
    await wal.append(vote(2, 2))
    await wal.close()
    expect((await loadOnce(path)).map(key)).toEqual(['2/1', '2/2'])
  })

  it('prune(epoch, force) rewrites at once', async () => {
    const path = walPath()
    const wal = new FileWal(path)
    await wal.load()
    await wal.append(vote(0, 1))
    await wal.append(vote(1, 1))
    await wal.prune(1, true)
    await wal.close()
    expect((await loadOnce(path)).map(key)).toEqual(['1/1'])
  })

  it('keeps the last tree cosigned beside it: none at first, the last one saved after a reopen', async () => {
    const path = walPath()
    const wal = new FileWal(path)
    expect(await wal.cosigned()).toBeNull()
    await wal.saveCosigned({ size: 12, root: sha256(new Uint8Array([1])) })
    await wal.saveCosigned({ size: 40, root: sha256(new Uint8Array([2])) })
    const again = await new FileWal(path).cosigned()
    expect(again?.size).toBe(40)
    expect(again?.root).toEqual(sha256(new Uint8Array([2])))
    expect(statSync(`${path}.cosigned`).mode & 0o777).toBe(0o600)
    expect(readdirSync(dirname(path)).sort()).toEqual(['votes.wal.cosigned']) // no temporary file left
  })

  it('a damaged, truncated, oversized or misshapen cosigned file stops the node (store.corrupt), naming the file', async () => {
    const path = walPath()
    const wal = new FileWal(path)
    await wal.saveCosigned({ size: 40, root: sha256(new Uint8Array([2])) })
    const good = readFileSync(`${path}.cosigned`)
    const withCheck = (body: Uint8Array): Buffer => Buffer.concat([body, createHash('sha256').update(body).digest().subarray(0, 4)])
    const bad: Array<[string, Uint8Array]> = [
      ['flipped byte', Buffer.from(good.map((b, i) => (i === 5 ? b ^ 1 : b)))],
      ['truncated', good.subarray(0, good.length - 1)],
      ['empty', new Uint8Array(0)],
      ['oversized', new Uint8Array(4096)],
      ['not CBOR', withCheck(new Uint8Array([0xff, 0x00]))],
      ['short root', withCheck(encode({ size: 40, root: new Uint8Array(31) }))],
      ['negative size', withCheck(encode({ size: -1, root: new Uint8Array(32) }))],
      ['extra field', withCheck(encode({ size: 40, root: new Uint8Array(32), epoch: 3 }))],
    ]
    for (const [what, bytes] of bad) {
      writeFileSync(`${path}.cosigned`, bytes)
      const err = await new FileWal(path).cosigned().then(() => null, (e: unknown) => e as TrothError)
      expect(err, what).toBeInstanceOf(TrothError)
      expect(err?.code, what).toBe('store.corrupt')
      expect(err?.message, what).toContain('votes.wal.cosigned')
    }
  })
})
