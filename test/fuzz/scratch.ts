// Scratch directories for the file-based fuzz targets: in memory (/dev/shm) where the machine has
// it, so a hundred thousand small files cost no disk wear and fsync costs nothing.

import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Scratch {
  readonly path: string
  remove(): void
}

export function scratchDir(label: string): Scratch {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
  const path = mkdtempSync(join(base, `troth-fuzz-${label}-`))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}
