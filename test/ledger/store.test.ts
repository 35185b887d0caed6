import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Level } from 'level'
import { LedgerStore } from '../../src/ledger/store.ts'
import { stateRecords, stateRoot } from '../../src/ledger/state.ts'
import { encode } from '../../src/ledger/encoding.ts'
import { inclusionProof, verifyInclusion, leafHash } from '../../src/ledger/merkle.ts'
import { FOUNDERS, SCRIPT_POLICY, makeGenesis, scriptedChain } from './fixtures.ts'

const dirs: string[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'troth-store-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  while (dirs.length > 0) rmSync(dirs.pop() as string, { recursive: true, force: true })
})

const genesis = makeGenesis(FOUNDERS, SCRIPT_POLICY)
const recordsOf = (s: Parameters<typeof stateRecords>[0]): string => Buffer.from(encode(stateRecords(s, true))).toString('hex')

describe('LedgerStore', () => {
  it('replaying one log on two fresh stores gives identical state roots, and both survive reopen', async () => {
    const chain = scriptedChain(23)
    const roots: string[] = []
    for (let i = 0; i < 2; i++) {
      const dir = tempDir()
      let store = await LedgerStore.open(dir, genesis)
      for (const b of chain.blocks) expect((await store.append(b.block)).ok).toBe(true)
      const before = recordsOf(store.state)
      await store.close()
      store = await LedgerStore.open(dir)
      expect(recordsOf(store.state)).toBe(before)
      roots.push(Buffer.from(stateRoot(store.state)).toString('hex'))
      expect(store.state.meta.height).toBe(23)
      expect(store.state.members.get(FOUNDERS[0]!.id)).toBeDefined()
      await store.close()
    }
    expect(roots[0]).toBe(roots[1])
    expect(roots[0]).toBe(Buffer.from(stateRoot(chain.state)).toString('hex'))
  })

  it('serves blocks, leaves and inclusion proofs for every leaf', async () => {
    const chain = scriptedChain(12)
    const store = await LedgerStore.open(tempDir(), genesis)
    for (const b of chain.blocks) await store.append(b.block)
    const size = store.state.meta.logSize
    const root = chain.blocks.at(-1)!.block.logRoot
    for (let i = 0; i < size; i++) {
      const leaf = await store.leaf(i)
      expect(leaf).toBeDefined()
      const proof = await inclusionProof(i, size, store.nodes)
      expect(verifyInclusion(i, size, leafHash(leaf!), proof, root)).toBe(true)
    }
    expect((await store.block(5))?.height).toBe(5)
    expect(await store.block(13)).toBeUndefined()
    await store.close()
  })

  it('indexes each epoch.seal leaf and each changed validator set, also when one batch spans several epochs', async () => {
    const chain = scriptedChain(23) // epochs of 5 blocks; xavier is inducted at the close of epoch 0
    const store = await LedgerStore.open(tempDir(), genesis)
    await store.commitChain(chain.blocks.map((b) => ({ block: b.block, applied: b.applied })), null)
    const closes = chain.blocks.filter((b) => b.applied.sealed !== null)
    expect(closes.length).toBe(4)
    let before = chain.blocks[0]!.applied.state.epoch.validators // epoch 0's: no block in epoch 0 changes it
    const changes: number[] = []
    for (const b of closes) {
      const sealed = b.applied.sealed!
      const leaf = b.applied.leaves.at(-1)!
      expect(await store.sealIndex(sealed.epoch)).toBe(leaf.index)
      expect(Buffer.from((await store.leaf(leaf.index))!)).toEqual(Buffer.from(sealed.leaf))
      const next = b.applied.state.epoch
      expect(await store.validatorsOf(next.number)).toEqual(next.validators)
      if (JSON.stringify(next.validators.map((v) => v.id)) !== JSON.stringify(before.map((v) => v.id))) changes.push(next.number)
      before = next.validators
    }
    expect(changes).toEqual([1])
    expect(await store.membershipChanges(store.state.epoch.number)).toEqual(changes)
    expect((await store.validatorsOf(0)).map((v) => v.id)).toEqual(FOUNDERS.map((f) => f.id).sort())
    expect(await store.sealIndex(store.state.epoch.number)).toBeUndefined() // the open epoch
    await store.close()
  })

  it('refuses an invalid block without writing anything', async () => {
    const chain = scriptedChain(3)
    const dir = tempDir()
    const store = await LedgerStore.open(dir, genesis)
    await store.append(chain.blocks[0]!.block)
    const r = await store.append(chain.blocks[2]!.block)
    expect(r).toMatchObject({ ok: false, status: 'wrong-height' })
    await store.close()
    const again = await LedgerStore.open(dir)
    expect(again.state.meta.height).toBe(1)
    await again.close()
  })

  it('refuses another network\'s genesis and a store with a missing head block', async () => {
    const dir = tempDir()
    const store = await LedgerStore.open(dir, genesis)
    for (const b of scriptedChain(4).blocks) await store.append(b.block)
    await store.close()
    const other = makeGenesis(FOUNDERS.slice(0, 3), SCRIPT_POLICY)
    await expect(LedgerStore.open(dir, other)).rejects.toMatchObject({ code: 'store.mismatch' })
    const raw = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    await raw.del(`b/${(4).toString(16).padStart(16, '0')}`)
    await raw.close()
    await expect(LedgerStore.open(dir)).rejects.toMatchObject({ code: 'store.corrupt' })
    await expect(LedgerStore.open(tempDir())).rejects.toMatchObject({ code: 'store.mismatch' })
  })

  it('SIGKILL in the middle of a stream of block writes: reopen finds the last complete block and nothing partial', async () => {
    const total = 400
    const reference = scriptedChain(total)
    const dir = tempDir()
    let lastAcked = 0
    for (let round = 0; round < 4; round++) {
      const child = spawn(process.execPath, [join(import.meta.dirname, 'crash-writer.ts'), dir, String(total)], { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      child.stderr.on('data', (d: Buffer) => (err += d.toString()))
      // Kill after a different number of commits each round, mid-stream.
      const killAfter = 15 + round * 37
      let seen = 0
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString()
          const commits = out.split('\n').filter((l) => l.startsWith('committed '))
          if (commits.length > seen) {
            seen = commits.length
            lastAcked = Number(commits.at(-1)!.split(' ')[1])
          }
          if (seen >= killAfter && !child.killed) {
            child.kill('SIGKILL')
            resolve()
          }
        })
        child.on('exit', () => resolve())
      })
      await exited
      expect(err).toBe('')
      const store = await LedgerStore.open(dir, genesis)
      const h = store.state.meta.height
      // Everything acknowledged is there; at most the block in flight landed, whole.
      expect(h).toBeGreaterThanOrEqual(lastAcked)
      expect(h).toBeLessThan(total)
      const ref = reference.blocks[h - 1]!.applied.state
      expect(recordsOf(store.state)).toBe(recordsOf(ref))
      expect(await store.block(h + 1)).toBeUndefined()
      expect(await store.leaf(store.state.meta.logSize)).toBeUndefined()
      expect(await store.leaf(store.state.meta.logSize - 1)).toBeDefined()
      await store.close()
    }
  }, 120_000)
})
