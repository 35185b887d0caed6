// A full garbage collection when the runtime offers one. `troth start` runs with --expose-gc
// (bin/troth, docs/operations.md "Memory") and collects at the two moments that leave the most
// garbage behind: while the whole state is read at start, and once the daemon is up. V8's memory
// reducer would give those pages back too, but only after the node has been idle for about 8 s,
// and until then the start-up garbage pushed the node over its memory goal (docs/performance.md).
// Elsewhere (tests, the CLI) `gc` is absent and this does nothing.

export function collectGarbage(): void {
  ;(globalThis as { gc?: () => void }).gc?.()
}
