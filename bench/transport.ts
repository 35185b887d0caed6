// The cost of one consensus frame on our transport, as a baseline for bench/consensus.ts: two
// libp2p hosts on 127.0.0.1 (TCP, Noise, Yamux) and a Channel; 180-byte frames sent one per
// event-loop turn (no batching); CPU time of both ends per frame. Usage: node bench/transport.ts
import { createHost } from '../src/p2p/host.ts'
import { Channel } from '../src/p2p/channel.ts'
import { sha256 } from '../src/ledger/hash.ts'
const NET = 'ab'.repeat(32)
const mk = (i: number, boot: string[] = []) => createHost({ seed: sha256(new Uint8Array([i])), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: boot, net: NET, admit: () => true })
const a = await mk(1); await a.start()
const b = await mk(2, [a.addrs()[0]!]); await b.start()
let got = 0
await Channel.open(a, 'x', 1 << 20, () => { got++ })
const cb = await Channel.open(b, 'x', 1 << 20, () => undefined)
while (a.peers().length === 0) await new Promise((r) => setTimeout(r, 50))
const frame = new Uint8Array(180).fill(3)
for (const N of [2000, 10000]) {
  got = 0
  const c0 = process.cpuUsage(); const t0 = performance.now()
  for (let i = 0; i < N; i++) { cb.send(a.memberId, frame); await new Promise((r) => setImmediate(r)) }
  while (got < N) await new Promise((r) => setTimeout(r, 5))
  const c = process.cpuUsage(c0)
  console.log(`frames=${N} cpu_us_per_frame=${((c.user + c.system) / N).toFixed(1)} wall_us_per_frame=${(((performance.now() - t0) * 1000) / N).toFixed(1)}`)
}
await a.stop(); await b.stop()
process.exit(0)
