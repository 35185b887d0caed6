// Shared fixtures for the multi-node tests: deterministic member seeds, hosts on 127.0.0.1 port
// 0 with a mutable allow-list, and a polling wait (no timing is ever asserted).

import { formatMemberId, publicKeyOf, type MemberId } from '../../src/identity/index.ts'
import { createHost, type HostOptions, type PenaltyEvent, type TrothHost } from '../../src/p2p/index.ts'

export const NET = 'ab'.repeat(32)
export const LOOPBACK = '/ip4/127.0.0.1/tcp/0'

export function seedOf(i: number): Uint8Array {
  const seed = new Uint8Array(32)
  seed.fill(i)
  seed[0] = 0x70 // keep test seeds apart from other suites' fixtures
  return seed
}

export function memberOf(seed: Uint8Array): MemberId {
  return formatMemberId(publicKeyOf(seed))
}

export interface TestHost {
  host: TrothHost
  memberId: MemberId
  /** Members this host admits; tests edit it and call host.refresh(). */
  admitted: Set<MemberId>
  /** Every penalty this host handed out, in order. */
  penalties: PenaltyEvent[]
}

/** Hosts started by a test; stopAll() in afterEach. */
export class Hosts {
  readonly all: TestHost[] = []

  /** A started host for seedOf(i), admitting the members of `admit` (default: every test seed 1..9). */
  async make(i: number, options: Partial<HostOptions> & { admit?: never } = {}, admit?: Iterable<number>): Promise<TestHost> {
    const seed = seedOf(i)
    const admitted = new Set<MemberId>([...(admit ?? [1, 2, 3, 4, 5, 6, 7, 8, 9])].map((j) => memberOf(seedOf(j))))
    const penalties: PenaltyEvent[] = []
    const host = await createHost({
      seed,
      listen: [LOOPBACK],
      net: NET,
      admit: (id) => admitted.has(id),
      redialIntervalMs: 200,
      redialBackoffMsMax: 1_000,
      inboundConnectionsPerSecondMax: 1_000,
      dialTimeoutMs: 5_000,
      onPenalty: (event) => penalties.push(event),
      ...options,
    })
    const entry = { host, memberId: memberOf(seed), admitted, penalties }
    this.all.push(entry)
    await host.start()
    return entry
  }

  async stopAll(): Promise<void> {
    const hosts = this.all.splice(0)
    await Promise.all(hosts.map((h) => h.host.stop()))
  }
}

/** Poll until `condition` holds; throws after `timeoutMs` (a test failure, not a measurement). */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
