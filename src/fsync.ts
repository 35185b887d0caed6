// Durability helpers shared by the stores that write files themselves (chunk store, snapshot
// unpacking, vote WAL): a rename or a new file is durable only once its directory is fsynced.

import { open } from 'node:fs/promises'

/** fsync directory `dir`, so that its new or renamed entries survive a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}
