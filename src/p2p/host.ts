// The libp2p host of a troth node (DESIGN.md §7): TCP + Noise + Yamux, identify, ping and
// gossipsub, with a PeerId made from the member's own Ed25519 key so that the Noise handshake
// answers "which member is this". The connection gater admits only the members the ledger says
// to admit and refuses banned peers; bootstrap peers are redialled with backoff, since home
// nodes restart. docs/network.md describes the rules.

import { setMaxListeners } from 'node:events'
import { noise } from '@chainsafe/libp2p-noise'
import { noiseCrypto } from './noise-crypto.ts'
import { yamux } from '@chainsafe/libp2p-yamux'
import './lp-decoder.ts'
import './yamux-window.ts'
import { generateKeyPairFromSeed, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import type { ComponentLogger, Connection, Libp2p, Logger, PeerId } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey, peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { ping, type Ping } from '@libp2p/ping'
import { coalescingTcp } from './tcp-writes.ts'
import { autoNAT } from '@libp2p/autonat'
import { uPnPNAT } from '@libp2p/upnp-nat'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { TrothError, assert } from '../errors.ts'
import { SEED_BYTES, formatMemberId, parseMemberId, publicKeyOf, type MemberId } from '../identity/index.ts'
import { gossipsubOptions } from './gossip.ts'
import { PenaltyBox, type PenaltyConfig, type PenaltyEvent } from './penalties.ts'

/** The network id: the lowercase hex SHA-256 of the genesis (DESIGN.md §2). */
const NET_PATTERN = /^[0-9a-f]{64}$/

export const REDIAL_INTERVAL_MS_DEFAULT = 2_000
export const REDIAL_BACKOFF_MS_MAX_DEFAULT = 60_000
export const DIAL_TIMEOUT_MS_DEFAULT = 10_000
/** libp2p's own default: new inbound connections per second from one IP address. */
export const INBOUND_CONNECTIONS_PER_SECOND_MAX_DEFAULT = 5
export const CONNECTIONS_MAX_DEFAULT = 300
export const LISTEN_ADDRS_MAX = 16
export const BOOTSTRAP_ADDRS_MAX = 256

export interface HostOptions {
  /** The member's 32-byte Ed25519 seed; the PeerId is made from the same key. */
  readonly seed: Uint8Array
  /** Multiaddrs to listen on, e.g. '/ip4/0.0.0.0/tcp/7700'. */
  readonly listen: readonly string[]
  /** Peers to keep dialling while not connected; each must end in /p2p/<peerId>. */
  readonly bootstrap?: readonly string[]
  /** The network id: lowercase hex of the genesis hash, used in protocol ids and topics. */
  readonly net: string
  /** The allow-list: consulted after every handshake, inbound and outbound. Must not throw. */
  readonly admit: (memberId: MemberId) => boolean
  readonly logger?: ComponentLogger
  readonly penalties?: Partial<PenaltyConfig>
  /** Told about every penalty report (for logs and metrics); must not throw. */
  readonly onPenalty?: (event: PenaltyEvent) => void
  readonly redialIntervalMs?: number
  readonly redialBackoffMsMax?: number
  readonly dialTimeoutMs?: number
  readonly inboundConnectionsPerSecondMax?: number
  readonly connectionsMax?: number
  /** Clock for penalty decay and bans; tests may pass their own. */
  readonly now?: () => number
  /**
   * Members keep their MemberId when their key changes (key.rotate, key.recover), but a PeerId is
   * always made from the current key. `memberOf` names the member whose current key this is (the
   * key's own id for a stranger or a candidate; null for a key a member no longer holds) and
   * `keyOf` gives a member's current key, as an id. Default: the key is the member.
   */
  readonly identity?: PeerIdentity
  /** Our own MemberId when our key is not our original one (default: the key's id). */
  readonly memberId?: MemberId
  /** Home-network helpers (docs/operations.md#home-networks-nat); all off by default. */
  readonly nat?: NatOptions
}

export interface NatOptions {
  /** AutoNAT: ask peers whether our listen addresses are reachable from outside. */
  readonly autonat: boolean
  /** UPnP IGD: ask the router to forward our listen port. Sends SSDP multicast on the LAN. */
  readonly upnp: boolean
  /** Circuit relay v2 transport: dial, and be reached through, a relay (a member's node). */
  readonly relay: boolean
}

/** The libp2p transports and extra services that NatOptions turn on (exported for tests). */
export function natParts(nat: NatOptions | undefined): { transports: Array<ReturnType<typeof circuitRelayTransport>>; services: Record<string, unknown> } {
  const services: Record<string, unknown> = {}
  if (nat?.autonat === true) services.autoNAT = autoNAT()
  if (nat?.upnp === true) services.upnpNAT = uPnPNAT()
  return { transports: nat?.relay === true ? [circuitRelayTransport()] : [], services }
}

export interface PeerIdentity {
  readonly memberOf: (keyId: MemberId) => MemberId | null
  readonly keyOf: (memberId: MemberId) => MemberId
}

const SAME_IDENTITY: PeerIdentity = { memberOf: (k) => k, keyOf: (m) => m }

export type HostServices = {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
}

/** How long host.peers() may reuse libp2p's list of connected peers when no connection event
 * came (events are the rule; this bounds a missed one). */
export const CONNECTED_PEERS_TTL_MS = 1_000

/** memberIdOfPeer's answers by PeerId object (a pure function of the key; the same objects come
 * back from the connected-peers list on every broadcast). */
const memberIdsOfPeers = new WeakMap<PeerId, MemberId | null>()

/** The MemberId of an Ed25519 PeerId; null for any other kind of key. */
export function memberIdOfPeer(peerId: PeerId | string): MemberId | null {
  if (typeof peerId !== 'string') {
    const known = memberIdsOfPeers.get(peerId)
    if (known !== undefined) return known
    const id = memberIdOfPeerUncached(peerId)
    memberIdsOfPeers.set(peerId, id)
    return id
  }
  return memberIdOfPeerUncached(peerId)
}

function memberIdOfPeerUncached(peerId: PeerId | string): MemberId | null {
  let id: PeerId
  try {
    id = typeof peerId === 'string' ? peerIdFromString(peerId) : peerId
  } catch {
    return null
  }
  if (id.type !== 'Ed25519') return null
  return formatMemberId(id.publicKey.raw)
}

/** The PeerId of a member; throws TrothError 'id.invalid-member-id' on a malformed id. */
export function peerIdOfMember(memberId: MemberId): PeerId {
  return peerIdFromPublicKey(publicKeyFromRaw(parseMemberId(memberId)))
}

/** The /p2p/ component of a multiaddr, if any. */
function peerIdOfAddr(addr: Multiaddr): PeerId | null {
  const component = addr.getComponents().find((c) => c.name === 'p2p')
  if (component?.value === undefined) return null
  try {
    return peerIdFromString(component.value)
  } catch (err) {
    // multiaddr checks only the encoding; a /p2p/ value may still be no peer id ("12D3Koo").
    throw new TrothError('input.invalid', `${addr.toString()}: /p2p/${component.value} is not a peer id`, { cause: err })
  }
}

function parseAddr(text: string, what: string): Multiaddr {
  try {
    return multiaddr(text)
  } catch (err) {
    throw new TrothError('input.invalid', `${what} is not a multiaddr: ${JSON.stringify(text)}`, { cause: err })
  }
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback
  if (!Number.isSafeInteger(v) || v <= 0) throw new TrothError('input.invalid', `${name} must be a positive integer, got ${v}`)
  return v
}

interface BootstrapPeer {
  readonly addr: Multiaddr
  readonly peerId: PeerId
  readonly memberId: MemberId
  backoffMs: number
  nextDialMs: number
  dialing: boolean
}

export class TrothHost {
  readonly net: string
  readonly memberId: MemberId
  readonly peerId: PeerId
  /** The underlying node, for gossip.ts and rpc.ts; other code goes through this class. */
  readonly libp2p: Libp2p<HostServices>
  readonly log: Logger
  readonly logger: ComponentLogger
  readonly #admit: (memberId: MemberId) => boolean
  readonly #identity: PeerIdentity
  readonly #penalties: PenaltyBox
  readonly #onPenalty: ((event: PenaltyEvent) => void) | undefined
  readonly #bootstrap: BootstrapPeer[]
  readonly #redialIntervalMs: number
  readonly #redialBackoffMsMax: number
  readonly #dialTimeoutMs: number
  #redialTimer: ReturnType<typeof setTimeout> | null = null
  #running = false
  #isolatedUntil = 0
  /** The connected peers as libp2p last listed them, and when (see connectedPeers()). */
  #connected: { peers: PeerId[]; at: number } | null = null

  /** Use createHost(). */
  constructor(init: {
    net: string
    memberId: MemberId
    libp2p: Libp2p<HostServices>
    logger: ComponentLogger
    admit: (memberId: MemberId) => boolean
    identity: PeerIdentity
    penalties: PenaltyBox
    onPenalty: ((event: PenaltyEvent) => void) | undefined
    bootstrap: BootstrapPeer[]
    redialIntervalMs: number
    redialBackoffMsMax: number
    dialTimeoutMs: number
  }) {
    this.net = init.net
    this.memberId = init.memberId
    this.libp2p = init.libp2p
    this.peerId = init.libp2p.peerId
    this.logger = init.logger
    this.log = init.logger.forComponent('troth:p2p:host')
    this.#admit = init.admit
    this.#identity = init.identity
    this.#penalties = init.penalties
    this.#onPenalty = init.onPenalty
    this.#bootstrap = init.bootstrap
    this.#redialIntervalMs = init.redialIntervalMs
    this.#redialBackoffMsMax = init.redialBackoffMsMax
    this.#dialTimeoutMs = init.dialTimeoutMs
    const forget = (): void => {
      this.#connected = null
    }
    this.libp2p.addEventListener('connection:open', forget)
    this.libp2p.addEventListener('connection:close', forget)
  }

  get started(): boolean {
    return this.#running
  }

  async start(): Promise<void> {
    if (this.#running) return
    await this.libp2p.start()
    this.#running = true
    this.#scheduleRedial(0)
  }

  async stop(): Promise<void> {
    if (!this.#running) return
    this.#running = false
    if (this.#redialTimer !== null) clearTimeout(this.#redialTimer)
    this.#redialTimer = null
    await this.libp2p.stop()
  }

  /** The listening multiaddrs, each ending in /p2p/<peerId>. */
  addrs(): string[] {
    const own = this.peerId.toString()
    return this.libp2p.getMultiaddrs().map((ma) => {
      const text = ma.toString()
      return peerIdOfAddr(ma) === null ? `${text}/p2p/${own}` : text
    })
  }

  /** The member a peer's key belongs to now (see HostOptions.identity); null for a key no member
   * holds any more, or one that is not Ed25519. */
  memberOf(peer: PeerId | string): MemberId | null {
    const keyId = memberIdOfPeer(peer)
    if (keyId === null) return null
    try {
      return this.#identity.memberOf(keyId)
    } catch (err) {
      this.log.error('memberOf(%s) threw; treating the key as unknown - %e', keyId, err)
      return null
    }
  }

  /** The PeerId of a member's current key; throws TrothError 'id.invalid-member-id' on a malformed id. */
  peerOf(memberId: MemberId): PeerId {
    return peerIdOfMember(this.#identity.keyOf(memberId))
  }

  /** MemberIds of the peers with an open connection, sorted. */
  peers(): MemberId[] {
    const ids = new Set<MemberId>()
    for (const peer of this.#connectedPeers()) {
      const id = this.memberOf(peer)
      if (id !== null) ids.add(id)
    }
    return [...ids].sort()
  }

  /**
   * libp2p's getPeers() builds its answer through the peers' string forms and parses each back
   * (base58): at 16 nodes, a consensus broadcast spent more time there than in sending. Keep its
   * list until a connection opens or closes, and at most CONNECTED_PEERS_TTL_MS in any case.
   */
  #connectedPeers(): PeerId[] {
    const now = Date.now()
    if (this.#connected === null || now - this.#connected.at > CONNECTED_PEERS_TTL_MS || now < this.#connected.at) {
      this.#connected = { peers: this.libp2p.getPeers(), at: now }
    }
    return this.#connected.peers
  }

  /** An admitted member that is not serving a ban. */
  isAdmitted(memberId: MemberId): boolean {
    if (this.#penalties.isBanned(memberId)) return false
    try {
      return this.#admit(memberId) === true
    } catch (err) {
      this.log.error('admit(%s) threw; refusing - %e', memberId, err)
      return false
    }
  }

  /** Whether the gater lets this peer connect now: another Ed25519 peer that isAdmitted(). */
  allows(peerId: PeerId): boolean {
    if (Date.now() < this.#isolatedUntil) return false
    const memberId = this.memberOf(peerId)
    if (memberId === null || memberId === this.memberId) return false
    return this.isAdmitted(memberId)
  }

  /** Dial a multiaddr; resolves to the MemberId at the other end. */
  async dial(addr: string, options: { signal?: AbortSignal } = {}): Promise<MemberId> {
    if (!this.#running) throw new TrothError('net.not-started', 'the host is not started')
    const ma = parseAddr(addr, 'dial address')
    const expected = peerIdOfAddr(ma)
    if (expected !== null && !this.allows(expected)) {
      throw new TrothError('net.refused', `dial refused: ${memberIdOfPeer(expected) ?? expected.toString()} is not admitted or is banned`)
    }
    const connection = await this.#connect(ma, addr, options.signal)
    const memberId = this.memberOf(connection.remotePeer)
    // The gater refuses non-Ed25519 peers after the handshake, so this cannot be null.
    assert(memberId !== null, 'gater let a non-Ed25519 peer through')
    return memberId
  }

  /** Dial, then prove the peer kept the connection. Noise settles the stream muxer inside its
   * handshake, and the initiator finishes the handshake first: libp2p's dial() resolves even when
   * the remote's gater refuses us a moment later and drops the socket. One ping round trip on the
   * new connection tells an accepted dial from a refused one. */
  async #connect(ma: Multiaddr, addr: string, signal: AbortSignal | undefined): Promise<Connection> {
    const timeout = AbortSignal.timeout(this.#dialTimeoutMs)
    const combined = signal === undefined ? timeout : AbortSignal.any([timeout, signal])
    setMaxListeners(Infinity, combined)
    let connection: Connection
    try {
      connection = await this.libp2p.dial(ma, { signal: combined })
    } catch (err) {
      if (signal?.aborted === true) throw new TrothError('net.aborted', `dial ${addr} aborted`, { cause: err })
      throw dialError(addr, err)
    }
    try {
      await this.libp2p.services.ping.ping(connection.remotePeer, { signal: combined })
    } catch (err) {
      if (signal?.aborted === true) throw new TrothError('net.aborted', `dial ${addr} aborted`, { cause: err })
      connection.abort(err instanceof Error ? err : new Error(String(err)))
      if (timeout.aborted) throw new TrothError('net.timeout', `${addr} did not answer a ping within ${this.#dialTimeoutMs} ms of connecting`, { cause: err })
      throw new TrothError('net.refused', `${addr} closed the connection after the handshake: it does not admit us (or is shutting down)`, { cause: err })
    }
    return connection
  }

  /** Round-trip time to a connected (or dialable) member, in milliseconds. */
  async ping(memberId: MemberId, options: { signal?: AbortSignal } = {}): Promise<number> {
    return this.libp2p.services.ping.ping(this.peerOf(memberId), options.signal === undefined ? {} : { signal: options.signal })
  }

  /** Close every connection to a peer that the gater would no longer admit; call it whenever
   * membership changes (induction, exile). Resolves once they are closed. */
  async refresh(): Promise<void> {
    const closing = new Map<string, PeerId>()
    for (const connection of this.libp2p.getConnections()) {
      if (!this.allows(connection.remotePeer)) closing.set(connection.remotePeer.toString(), connection.remotePeer)
    }
    await Promise.all([...closing.values()].map((peer) => this.#hangUp(peer)))
  }

  /** Drop every connection and refuse every peer for `ms` (the perturbation tests' "disconnect":
   * as if the cable were pulled). Resolves once the connections are closed. */
  async isolate(ms: number): Promise<void> {
    this.#isolatedUntil = Date.now() + ms
    const peers = new Map<string, PeerId>()
    for (const c of this.libp2p.getConnections()) peers.set(c.remotePeer.toString(), c.remotePeer)
    await Promise.all([...peers.values()].map((p) => this.#hangUp(p)))
  }

  /** Report misbehaviour; at the threshold the peer is disconnected and refused for a while. */
  penalise(memberId: MemberId, reason: string, points: number): void {
    if (memberId === this.memberId) {
      this.log.error('ignoring a penalty against ourselves (%s)', reason)
      return
    }
    const event = this.#penalties.penalise(memberId, reason, points)
    this.log('penalty %s +%d (%s), score %d%s', memberId, points, reason, Math.round(event.score), event.banned ? ', banned' : '')
    try {
      this.#onPenalty?.(event)
    } catch (err) {
      this.log.error('onPenalty threw - %e', err)
    }
    if (event.banned) {
      let peer: PeerId
      try {
        peer = this.peerOf(memberId)
      } catch {
        return
      }
      void this.#hangUp(peer)
    }
  }

  penaltyOf(memberId: MemberId): number {
    return this.#penalties.penaltyOf(memberId)
  }

  isBanned(memberId: MemberId): boolean {
    return this.#penalties.isBanned(memberId)
  }

  async #hangUp(peer: PeerId): Promise<void> {
    try {
      await this.libp2p.hangUp(peer)
    } catch (err) {
      this.log.error('hang up %p failed, aborting its connections - %e', peer, err)
      for (const connection of this.libp2p.getConnections(peer)) connection.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  #scheduleRedial(delayMs: number): void {
    if (!this.#running || this.#bootstrap.length === 0) return
    this.#redialTimer = setTimeout(() => {
      this.#redialTimer = null
      this.#redialTick()
      this.#scheduleRedial(this.#redialIntervalMs)
    }, delayMs)
  }

  /** Dial each bootstrap peer that is not connected and whose backoff has run out. */
  #redialTick(): void {
    const now = Date.now()
    for (const peer of this.#bootstrap) {
      if (peer.dialing || now < peer.nextDialMs) continue
      if (this.libp2p.getConnections(peer.peerId).length > 0) {
        peer.backoffMs = this.#redialIntervalMs
        continue
      }
      if (!this.allows(peer.peerId)) continue
      peer.dialing = true
      this.#connect(peer.addr, peer.addr.toString(), undefined)
        .then(() => {
          peer.backoffMs = this.#redialIntervalMs
          peer.nextDialMs = 0
        })
        .catch((err: unknown) => {
          this.log('bootstrap dial %s failed, next in %d ms - %e', peer.memberId, peer.backoffMs, err)
          peer.nextDialMs = Date.now() + peer.backoffMs
          peer.backoffMs = Math.min(peer.backoffMs * 2, this.#redialBackoffMsMax)
        })
        .finally(() => {
          peer.dialing = false
        })
    }
  }
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : ''
}

function dialError(addr: string, err: unknown): TrothError {
  const name = errorName(err)
  const reason = err instanceof Error ? err.message : String(err)
  if (name === 'DialDeniedError' || name === 'ConnectionInterceptedError' || name === 'ConnectionDeniedError') {
    return new TrothError('net.refused', `dial ${addr} refused by our connection gater: ${reason}`, { cause: err })
  }
  if (name === 'AbortError' || name === 'TimeoutError') {
    return new TrothError('net.timeout', `dial ${addr} timed out or was aborted: ${reason}`, { cause: err })
  }
  return new TrothError('net.dial-failed', `dial ${addr} failed (unreachable, or the peer refused us): ${reason}`, { cause: err })
}

/** Build a host (not started). */
export async function createHost(opts: HostOptions): Promise<TrothHost> {
  if (!(opts.seed instanceof Uint8Array) || opts.seed.length !== SEED_BYTES) {
    throw new TrothError('id.invalid-key', `seed must be ${SEED_BYTES} bytes`)
  }
  if (typeof opts.net !== 'string' || !NET_PATTERN.test(opts.net)) {
    throw new TrothError('input.invalid', 'net must be the 64 lowercase hex digits of the genesis hash')
  }
  if (typeof opts.admit !== 'function') throw new TrothError('input.invalid', 'admit must be a function')
  if (opts.listen.length > LISTEN_ADDRS_MAX) throw new TrothError('input.invalid', `at most ${LISTEN_ADDRS_MAX} listen addresses`)
  const bootstrapAddrs = opts.bootstrap ?? []
  if (bootstrapAddrs.length > BOOTSTRAP_ADDRS_MAX) throw new TrothError('input.invalid', `at most ${BOOTSTRAP_ADDRS_MAX} bootstrap addresses`)
  const listen = opts.listen.map((a) => parseAddr(a, 'listen address').toString())
  const redialIntervalMs = positiveInt(opts.redialIntervalMs, REDIAL_INTERVAL_MS_DEFAULT, 'redialIntervalMs')
  const redialBackoffMsMax = positiveInt(opts.redialBackoffMsMax, REDIAL_BACKOFF_MS_MAX_DEFAULT, 'redialBackoffMsMax')
  const dialTimeoutMs = positiveInt(opts.dialTimeoutMs, DIAL_TIMEOUT_MS_DEFAULT, 'dialTimeoutMs')
  const inboundPerSecond = positiveInt(opts.inboundConnectionsPerSecondMax, INBOUND_CONNECTIONS_PER_SECOND_MAX_DEFAULT, 'inboundConnectionsPerSecondMax')
  const connectionsMax = positiveInt(opts.connectionsMax, CONNECTIONS_MAX_DEFAULT, 'connectionsMax')

  // libp2p's Ed25519 private key is seed || public key (64 bytes). A bare 32-byte buffer given to
  // privateKeyFromRaw() would silently become a secp256k1 key, so derive it from the seed instead
  // and check that it is the member's key.
  const privateKey = await generateKeyPairFromSeed('Ed25519', opts.seed)
  const memberPublicKey = publicKeyOf(opts.seed)
  assert(Buffer.from(privateKey.publicKey.raw).equals(Buffer.from(memberPublicKey)), 'libp2p key differs from the member key')
  const memberId = opts.memberId ?? formatMemberId(memberPublicKey)
  const peerId = peerIdFromPrivateKey(privateKey)

  const bootstrap: BootstrapPeer[] = []
  for (const text of bootstrapAddrs) {
    const addr = parseAddr(text, 'bootstrap address')
    const id = peerIdOfAddr(addr)
    const bootMember = id === null ? null : memberIdOfPeer(id)
    if (id === null || bootMember === null) {
      throw new TrothError('input.invalid', `bootstrap address must end in /p2p/<Ed25519 peer id>: ${text}`)
    }
    if (id.equals(peerId)) continue // our own address in a shared list
    bootstrap.push({ addr, peerId: id, memberId: bootMember, backoffMs: redialIntervalMs, nextDialMs: 0, dialing: false })
  }

  const nat = natParts(opts.nat)
  const logger = opts.logger ?? defaultLogger()
  const penalties = new PenaltyBox(opts.penalties ?? {}, opts.now ?? Date.now)
  // The gater needs the host (allow-list and bans); the host needs libp2p. Late-bind.
  let host: TrothHost | null = null
  const denied = (peer: PeerId): boolean => host === null || !host.allows(peer)

  const libp2p = await createLibp2p<HostServices>({
    start: false,
    privateKey,
    logger,
    addresses: { listen },
    transports: [coalescingTcp(), ...nat.transports],
    connectionEncrypters: [noise({ crypto: noiseCrypto })],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: connectionsMax,
      dialTimeout: dialTimeoutMs,
      inboundConnectionThreshold: inboundPerSecond,
    },
    connectionGater: {
      // Before dialling a known PeerId: do not even open a socket to a refused peer.
      denyDialPeer: (peer) => denied(peer),
      // After the Noise handshake has proved the remote's key: the rule of DESIGN.md §7.
      denyInboundEncryptedConnection: (peer) => denied(peer),
      denyOutboundEncryptedConnection: (peer) => denied(peer),
    },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub(gossipsubOptions(opts.net)),
      ...(nat.services as Record<string, never>),
    },
  })

  host = new TrothHost({
    net: opts.net,
    memberId,
    libp2p,
    logger,
    admit: opts.admit,
    identity: opts.identity ?? SAME_IDENTITY,
    penalties,
    onPenalty: opts.onPenalty,
    bootstrap,
    redialIntervalMs,
    redialBackoffMsMax,
    dialTimeoutMs,
  })
  assert(host.peerId.equals(peerId), 'libp2p peer id differs from the member key')
  return host
}
