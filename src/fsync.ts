// Durability helpers shared by the stores that write files themselves (chunk store, snapshot
// unpacking, vote WAL): a rename or a new file is durable only once its directory is fsynced.

import { randomBytes } from 'node:crypto'
import { open, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'

/** fsync directory `dir`, so that its new or renamed entries survive a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** Writes `name` in `dir` so that after a crash it holds either the old bytes or the new. */
export async function writeDurable(dir: string, name: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const fh = await open(tmp, 'wx', 0o600)
    try {
      for (let at = 0; at < bytes.length; ) at += (await fh.write(bytes, at, bytes.length - at)).bytesWritten
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, join(dir, name))
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
  await syncDir(dir)
}
