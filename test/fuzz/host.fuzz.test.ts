// Fuzzing the host's address options (src/p2p/host.ts createHost), what `troth start --listen
// --bootstrap` passes through: any multiaddr text, /p2p/ components that are no peer id or the
// peer id of a key that is not Ed25519. createHost builds an (unstarted) host or throws a
// TrothError 'input.invalid'; nothing listens or dials here.

import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import fc from 'fast-check'
import { describe } from 'vitest'
import { createHost } from '../../src/p2p/host.ts'
import { peerIdOfMember } from '../../src/p2p/host.ts'
import { attemptAsync, fuzzAsync } from './harness.ts'
import { hostileText } from './mutate.ts'
import * as corpus from './corpus.ts'

const NET = 'ab'.repeat(32)

describe('fuzz: host address options', () => {
  const bob = peerIdOfMember(corpus.bob.id).toString()
  const samples = [`/ip4/127.0.0.1/tcp/4001/p2p/${bob}`, `/dns4/coop.example/tcp/4001/p2p/${bob}`, `/ip6/::1/tcp/0/p2p/${bob}`, '/ip4/0.0.0.0/tcp/0', '/ip6/::/tcp/4001']
  const others: string[] = []
  const addr = fc.oneof(
    hostileText(samples),
    fc.constantFrom(...samples),
    fc.nat(1).map((i) => `/ip4/127.0.0.1/tcp/4001/p2p/${others[i] ?? bob}`), // a secp256k1 or RSA peer: no member
    fc.constantFrom('/ip4/127.0.0.1/tcp/4001/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N', '/ip4/1.2.3.4/tcp/1/p2p/bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe', '/p2p/', '/ip4/1.2.3.4/tcp/99999', '/unix/tmp%2Fx', '/ip4/1.2.3.4/tcp/1/p2p/12D3Koo'),
  )
  fuzzAsync(
    'createHost: hostile listen and bootstrap addresses build a host or fail with a TrothError',
    fc.record({ listen: fc.array(addr, { maxLength: 2 }), bootstrap: fc.array(addr, { maxLength: 3 }) }),
    async ({ listen, bootstrap }) => {
      await attemptAsync(() => createHost({ seed: corpus.alice.seed, net: NET, listen, bootstrap, admit: () => true }), ['input.invalid'])
    },
    {
      before: async () => {
        others.push(peerIdFromPrivateKey(await generateKeyPair('secp256k1')).toString(), peerIdFromPrivateKey(await generateKeyPair('RSA', 1024)).toString())
      },
    },
  )
})
