// The data directory (DESIGN.md §8): one per node. Layout:
//   DIR/key      the keystore (mode 0600), see docs/keystore.md
//   DIR/ledger/  the level store, see src/ledger/store.ts
// The directory itself is created with mode 0700.

import { mkdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { TrothError } from '../errors.ts'

export const keyPath = (dir: string): string => join(dir, 'key')
export const ledgerPath = (dir: string): string => join(dir, 'ledger')

/** Create the data dir if missing (0700); refuse a path that exists and is not a directory. */
export function ensureDataDir(dir: string): void {
  try {
    const st = statSync(dir)
    if (!st.isDirectory()) throw new TrothError('input.invalid', `--data ${dir} exists and is not a directory`)
    return
  } catch (err) {
    if (err instanceof TrothError) throw err
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TrothError('input.invalid', `cannot use --data ${dir}: ${(err as NodeJS.ErrnoException).code}`)
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 })
}
