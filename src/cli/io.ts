// CLI plumbing: where output goes, how passphrases are read, and how input files are read with a
// size cap. Kept apart so tests can drive main() with their own streams and environment.

import { closeSync, openSync, readSync, fstatSync, writeFileSync, constants } from 'node:fs'
import { createInterface } from 'node:readline'
import { TrothError } from '../errors.ts'

/** The command did its work and the answer is no (a proof that does not verify, a checkpoint a
 * witness refuses): the verdict is already printed; the CLI exits 3. */
export class NotValid extends Error {
  constructor() {
    super('not valid')
    this.name = 'NotValid'
  }
}

export interface Io {
  out(text: string): void
  err(text: string): void
  env: Readonly<Record<string, string | undefined>>
  /** Ask for a secret on the terminal, or undefined when there is no terminal. */
  askSecret(prompt: string): Promise<string | undefined>
}

export function processIo(): Io {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    env: process.env,
    askSecret: async (prompt) => {
      if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined
      const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
      // Do not echo what is typed.
      const r = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WritableStream }
      let muted = false
      r._writeToOutput = (s: string) => {
        if (!muted) r.output.write(s)
      }
      try {
        return await new Promise<string>((resolve) => {
          rl.question(prompt, (answer) => {
            process.stderr.write('\n')
            resolve(answer)
          })
          muted = true
        })
      } finally {
        rl.close()
      }
    },
  }
}

/** Read a whole file, refusing more than `bytesMax` (checked before reading everything). */
export function readFileCapped(path: string, bytesMax: number, what: string): Uint8Array {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new TrothError('input.not-found', `${what} ${path} does not exist`)
    throw new TrothError('input.invalid', `cannot read ${what} ${path}: ${code ?? (err as Error).message}`)
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw new TrothError('input.invalid', `${what} ${path} is not a regular file`)
    if (st.size > bytesMax) throw new TrothError('input.too-large', `${what} ${path} is ${st.size} bytes, more than the ${bytesMax} allowed`)
    const buf = new Uint8Array(st.size)
    let off = 0
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off)
      if (n === 0) break
      off += n
    }
    return buf.subarray(0, off)
  } finally {
    closeSync(fd)
  }
}

/** Write a new file; never overwrite an existing one. */
export function writeNewFile(path: string, data: Uint8Array | string, mode = 0o644): void {
  try {
    writeFileSync(path, data, { flag: 'wx', mode })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new TrothError('input.invalid', `${path} already exists; choose another --out or remove it`)
    throw new TrothError('input.invalid', `cannot write ${path}: ${code ?? (err as Error).message}`)
  }
}
