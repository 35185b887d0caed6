// Stand-ins for the parts of a daemon a handler reads, over the scripted history's real state, so
// handlers can be driven directly with hostile input (no libp2p, no disk store).

import { TrothError } from '../../src/errors.ts'
import type { Daemon } from '../../src/node/daemon.ts'
import * as corpus from './corpus.ts'

/** Just what the control API reads of a daemon, over the scripted history's state. */
export function controlStandIn(): Daemon {
  const state = corpus.chain().state
  const submitted: string[] = []
  const d = {
    id: corpus.alice.id,
    startedAt: Date.now(),
    store: { state, base: null, latestCheckpoint: async () => [1, (corpus.notes()[0] as string)] as [number, string] },
    host: { peers: () => [corpus.bob.id] },
    outOfReach: () => [],
    replica: {
      currentEngine: null,
      finality: [12, 30, 31],
      mempoolSize: 0,
      recent: [],
      debug: () => ({ engine: null }),
      submitOwn: async (body: { kind: string }) => {
        submitted.push(body.kind)
        return { status: submitted.length % 3 === 0 ? 'bad-seq' : 'ok', detail: '', wire: new Uint8Array(8) }
      },
      outcome: (hash: string) => (hash.startsWith('ab') ? { state: 'final', height: 3 } : undefined),
    },
    metrics: null,
    keyId: corpus.alice.id,
    chunks: { info: async () => null, missing: async () => [] },
    obligations: {
      dutiesNow: () => ({ epoch: state.epoch.number, audits: [], replicas: [] }),
      stream: async function* (): AsyncGenerator<Uint8Array> {
        yield new Uint8Array(3)
        throw new TrothError('net.dial-failed', 'no connected member served the chunk')
      },
    },
    seal: async (path: string) => {
      if (path.length % 2 === 0) throw new TrothError('input.not-found', `${path} does not exist`)
      return { root: '00'.repeat(32), name: 'x', size: 1, chunks: 1, status: path.length % 3 === 0 ? 'ok' : 'snapshot-exists' }
    },
  }
  return d as unknown as Daemon
}

