// Fuzzing the local control API (src/node/control.ts) over real HTTP on 127.0.0.1: hostile
// methods, paths, query strings, tokens and bodies (JSON or not). The server must answer every
// request with a status it means (200, 400, 401, 404, 409, 502, 503), never a 500 (an exception
// that escaped the handler), never hang, and keep serving. The daemon behind it is a stand-in
// over a real ledger state: the handler, the body parsing and the routing are what is tested.

import { request, Agent } from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe } from 'vitest'
import { ControlServer, CONTROL_FILE, type ControlInfo } from '../../src/node/control.ts'
import { PARAM_NAMES } from '../../src/ledger/policy.ts'
import { fuzzAsync } from './harness.ts'
import { mutatedText } from './mutate.ts'
import { scratchDir } from './scratch.ts'
import { controlStandIn } from './stand-ins.ts'

const MEANT = new Set([200, 400, 401, 404, 409, 502, 503])

const validBodies = [
  '{"kind":"policy.vote","param":"vouchCap","value":3}',
  '{"kind":"policy.vote","param":"epochBlocks","value":null}',
  '{"kind":"leave"}',
  '{"kind":"exile.vote","member":"troth1aaaa"}',
  '{"kind":"induct.object","candidate":"troth1aaaa","reason":"r"}',
  '{"path":"/tmp/minutes.pdf"}',
  '{}',
]

const body = fc.oneof(
  fc.constantFrom(...validBodies, '', 'null', '[]', '0', '"x"', 'true', '{"param":null}', '{"__proto__":{"param":"vouchCap"}}', '{"param":"vouchCap","value":1e400}', '{"param":"constructor","value":1}', '{"path":null}', '{"path":["/"]}'),
  mutatedText(validBodies),
  fc.json({ maxDepth: 3 }),
  fc.record({ kind: fc.constantFrom('policy.vote', 'leave', 'exile.vote', 'induct.vouch', 'key.rotate', 'key.recover', '__proto__'), param: fc.oneof(fc.constantFrom(...PARAM_NAMES, '__proto__', 'toString'), fc.string()), value: fc.oneof(fc.integer(), fc.double(), fc.constant(null), fc.string()) }).map((v) => JSON.stringify(v)),
  fc.record({ path: fc.oneof(fc.string().map((s) => `/${s}`), fc.string(), fc.constant('/'.repeat(5000))) }).map((v) => JSON.stringify(v)),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.constant('x'.repeat(70 * 1024)), // over the body limit
)

const target = fc.oneof(
  fc.record({ method: fc.constant('POST'), path: fc.constantFrom('/submit', '/seal') }),
  fc.record({ method: fc.constant('GET'), path: fc.oneof(fc.constantFrom('/governance', '/policy', `/entry?hash=${'ab'.repeat(32)}`, '/entry?hash=zz'), fc.string().map((x) => `/entry?hash=${encodeURIComponent(x)}`)) }),
  fc.record({ method: fc.constant('GET'), path: fc.constantFrom('/status', '/checkpoint', '/snapshots', '/duties', '/members', '/finality', '/metrics', '/fetch', '/nope') }),
  fc.record({ method: fc.constant('GET'), path: fc.oneof(fc.constant(`/fetch?root=${'ab'.repeat(32)}`), fc.string().map((s) => `/fetch?root=${encodeURIComponent(s)}`), fc.constant('/fetch?root=%zz')) }),
  fc.record({ method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'), path: fc.oneof(fc.webPath(), fc.constantFrom('//status', '/status?x=%', '/%', '/..', '/status#x')) }),
)

const requestArb = fc.record({ target, body, token: fc.oneof({ arbitrary: fc.constant('good'), weight: 8 }, { arbitrary: fc.constantFrom('none', 'wrong', 'long'), weight: 1 }) })

describe('fuzz: control API', () => {
  const dir = scratchDir('control')
  let server: ControlServer | null = null
  let info: ControlInfo | null = null
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })

  function send(method: string, path: string, payload: string, auth: string | null): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: (info as ControlInfo).port, method, path, agent, headers: { ...(auth === null ? {} : { authorization: auth }), 'content-length': Buffer.byteLength(payload) } },
        (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
          res.on('error', () => resolve(res.statusCode ?? 0)) // a body cut short on purpose (/fetch)
        },
      )
      req.on('error', reject)
      req.end(payload)
    })
  }

  fuzzAsync(
    'control API: hostile requests get a meant status (never a 500), and the server keeps serving',
    requestArb,
    async ({ target: t, body: payload, token }) => {
      const good = `Bearer ${(info as ControlInfo).token}`
      const auth = token === 'good' ? good : token === 'none' ? null : token === 'wrong' ? `Bearer ${'x'.repeat(32)}` : `${good}x`
      let path = t.path
      if (!path.startsWith('/')) path = `/${path}`
      const status = await send(t.method, path, t.method === 'GET' ? '' : payload, auth)
      if (!MEANT.has(status)) throw new Error(`${t.method} ${path} with ${JSON.stringify(payload.slice(0, 80))} answered ${status}`)
    },
    {
      hangMs: 15_000,
      before: async () => {
        server = await ControlServer.start(dir.path, controlStandIn())
        info = JSON.parse(readFileSync(join(dir.path, CONTROL_FILE), 'utf8')) as ControlInfo
      },
      after: async () => {
        agent.destroy()
        await server?.stop()
        dir.remove()
      },
    },
  )
})
