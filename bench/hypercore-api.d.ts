// The part of hypercore's API (11.x, untyped JavaScript) that bench/hypercore.ts uses.

declare module 'hypercore' {
  import type { Duplex } from 'node:stream'

  export interface HypercoreRange {
    done(): Promise<void>
    destroy(): void
  }

  export default class Hypercore {
    constructor(storage: string, key?: Uint8Array | null, options?: Record<string, unknown>)
    readonly key: Uint8Array
    readonly length: number
    ready(): Promise<void>
    append(blocks: Uint8Array | Uint8Array[]): Promise<{ length: number; byteLength: number }>
    get(index: number, options?: Record<string, unknown>): Promise<Uint8Array | null>
    /** A Noise-encrypted protocol stream to pipe over a transport (a TCP socket here). */
    replicate(isInitiator: boolean, options?: Record<string, unknown>): Duplex
    download(range?: { start?: number; end?: number; linear?: boolean }): HypercoreRange
    on(event: 'download', listener: (index: number, byteLength: number) => void): this
    on(event: 'append', listener: () => void): this
    close(): Promise<void>
  }
}
