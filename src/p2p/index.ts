// The network module's public face (DESIGN.md §7): the libp2p host and its gater, gossip topics
// with envelopes, request/response protocols and per-peer penalties. docs/network.md explains them.

export {
  BOOTSTRAP_ADDRS_MAX,
  CONNECTIONS_MAX_DEFAULT,
  DIAL_TIMEOUT_MS_DEFAULT,
  INBOUND_CONNECTIONS_PER_SECOND_MAX_DEFAULT,
  LISTEN_ADDRS_MAX,
  REDIAL_BACKOFF_MS_MAX_DEFAULT,
  REDIAL_INTERVAL_MS_DEFAULT,
  TrothHost,
  createHost,
  memberIdOfPeer,
  peerIdOfMember,
  type HostOptions,
  type HostServices,
} from './host.ts'
export {
  ENVELOPE_OVERHEAD_BYTES_MAX,
  GOSSIP_MESSAGE_BYTES_MAX,
  GOSSIP_PAYLOAD_BYTES_CEILING,
  GOSSIP_PAYLOAD_BYTES_MAX_DEFAULT,
  GOSSIP_TOPIC_NAMES,
  Gossip,
  createGossip,
  decodeEnvelope,
  encodeEnvelope,
  gossipTopic,
  gossipsubOptions,
  type GossipHandler,
  type GossipOptions,
  type GossipTopicName,
} from './gossip.ts'
export {
  RPC_FRAME_BYTES_CEILING,
  RPC_INBOUND_STREAMS_MAX_DEFAULT,
  RPC_OUTBOUND_STREAMS_MAX_DEFAULT,
  RPC_TIMEOUT_MS_MAX,
  Rpc,
  createRpc,
  protocolId,
  rpcProtocol,
  type HandleOptions,
  type RequestOptions,
  type RpcContext,
  type RpcHandler,
  type RpcLimits,
  type RpcProtocol,
} from './rpc.ts'
export { PENALTY_CONFIG_DEFAULT, PENALTY_POINTS, PenaltyBox, type PenaltyConfig, type PenaltyEvent } from './penalties.ts'
