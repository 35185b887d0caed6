// Child process for the crash test: append the scripted history to a store, one synced batch per
// block, printing "committed <height>" after each commit returns. The parent kills it with SIGKILL.

import { LedgerStore } from '../../src/ledger/store.ts'
import { makeGenesis, FOUNDERS, SCRIPT_POLICY, scriptedChain } from './fixtures.ts'

const [dir, total] = [process.argv[2] as string, Number(process.argv[3])]
const chain = scriptedChain(total)
const store = await LedgerStore.open(dir, makeGenesis(FOUNDERS, SCRIPT_POLICY))
process.stdout.write(`opened ${store.state.meta.height}\n`)
for (const built of chain.blocks) {
  if (built.block.height <= store.state.meta.height) continue
  const r = await store.append(built.block)
  if (!r.ok) throw new Error(`block ${built.block.height} refused: ${r.status} ${r.detail}`)
  process.stdout.write(`committed ${built.block.height}\n`)
}
await store.close()
process.stdout.write('done\n')
