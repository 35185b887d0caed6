// The status page (docs/operations.md#status-page): a small HTTP server, 127.0.0.1 by default,
// serving one server-rendered HTML page, the same data as JSON (/status.json) for the page's
// refresh, and Prometheus metrics (/metrics). Read-only: it shows what the ledger and the node
// know, never a key or the control token, and accepts no input but the path.

import { createServer, type Server } from 'node:http'
import { formatMemberId } from '../identity/member-id.ts'
import { toHex } from '../ledger/hash.ts'
import { CompactRange } from '../ledger/merkle.ts'
import { parseCheckpoint, parseNote } from '../ledger/tlog.ts'
import { TrothError } from '../errors.ts'
import type { Daemon } from './daemon.ts'
import type { NodeMetrics } from './metrics.ts'
import { snapshotsOf } from './control.ts'

export const STATUS_CHECKPOINTS_SHOWN = 5
export const STATUS_LATENCIES_SHOWN = 120

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number
}

/** Everything the page shows, as one JSON document. */
export async function statusPageData(d: Daemon): Promise<Record<string, unknown>> {
  const s = d.store.state
  const names = new Map([...s.members].map(([id, m]) => [id, m.name]))
  const all = d.replica.finality
  const sorted = [...all].sort((a, b) => a - b)
  const checkpoints = []
  for (const [epoch, note] of await d.store.recentCheckpoints(STATUS_CHECKPOINTS_SHOWN)) {
    try {
      const n = parseNote(note)
      const c = parseCheckpoint(n.text)
      checkpoints.push({ epoch, size: c.size, root: toHex(c.root), cosigners: n.signatures.length })
    } catch {
      checkpoints.push({ epoch, size: null, root: null, cosigners: 0 })
    }
  }
  return {
    node: {
      id: d.id,
      name: names.get(d.id) ?? '',
      network: s.meta.name,
      epoch: s.epoch.number,
      view: d.replica.currentEngine?.currentView ?? 0,
      height: s.meta.height,
      logSize: s.meta.logSize,
      logRoot: toHex(CompactRange.from(s.meta.logSize, s.meta.logFrontier).root()),
      validators: s.epoch.validators.length,
      uptimeMs: Date.now() - d.startedAt,
    },
    finality: { count: all.length, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99), recentMs: all.slice(-STATUS_LATENCIES_SHOWN) },
    members: [...s.members].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([id, m]) => ({
      id,
      name: m.name,
      key: formatMemberId(m.key),
      status: m.status,
      weight: m.weight,
      standing: m.standing.score,
      strikes: m.standing.strikes,
      dutiesDone: m.standing.dutiesDone,
      dutiesMissed: m.standing.dutiesMissed,
      joinedEpoch: m.joinedEpoch,
      sponsors: m.sponsors.map((x) => names.get(x) ?? x),
      exileReason: m.exileReason,
    })),
    duties: d.obligations === null ? null : d.obligations.dutiesNow(),
    checkpoints,
    snapshots: (await snapshotsOf(d)).snapshots,
    peers: d.host.peers().map((id) => ({ id, name: names.get(id) ?? '' })),
  }
}

// The page: static markup and one script that fetches /status.json every second and renders it.
// Everything from the ledger goes in with textContent, never as HTML.
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>troth node</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2327; background: #fafafa; }
  h1 { font-size: 1.3rem; margin: 0 0 .3rem; } h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
  .cards { display: flex; flex-wrap: wrap; gap: .6rem; }
  .card { background: #fff; border: 1px solid #dcdcde; border-radius: 6px; padding: .5rem .8rem; min-width: 7rem; }
  .card b { display: block; font-size: 1.3rem; }
  table { border-collapse: collapse; background: #fff; width: 100%; }
  th, td { border: 1px solid #dcdcde; padding: .25rem .5rem; text-align: left; font-size: 13px; }
  th { background: #f0f0f1; } .mono { font-family: ui-monospace, monospace; font-size: 12px; }
  .active { color: #1a7f37; } .exiled { color: #b32d2e; font-weight: 600; } .left { color: #646970; }
  svg { background: #fff; border: 1px solid #dcdcde; border-radius: 6px; }
  #updated { color: #646970; font-size: 12px; }
</style>
</head>
<body>
<h1>troth · <span id="network"></span></h1>
<div id="updated">loading…</div>
<div class="cards">
  <div class="card">finalized height<b id="height" data-testid="height">–</b></div>
  <div class="card">epoch<b id="epoch">–</b></div>
  <div class="card">view<b id="view">–</b></div>
  <div class="card">log size<b id="logSize">–</b></div>
  <div class="card">peers<b id="peerCount">–</b></div>
  <div class="card">finality p50 / p99<b id="finality">–</b></div>
</div>
<h2>Finality latency of this node's entries (ms, newest right)</h2>
<svg id="chart" width="600" height="120" viewBox="0 0 600 120" role="img" aria-label="finality latency chart"></svg>
<h2>Members</h2>
<table id="members"><thead><tr><th>name</th><th>member</th><th>status</th><th>weight</th><th>standing</th><th>strikes</th><th>duties done</th><th>missed</th><th>joined</th><th>sponsors</th><th>why</th></tr></thead><tbody></tbody></table>
<h2>This node's duties this epoch</h2>
<table id="duties"><thead><tr><th>kind</th><th>snapshot</th><th>replica / name</th><th>chunks / since</th><th>state</th></tr></thead><tbody></tbody></table>
<h2>Sealed checkpoints</h2>
<table id="checkpoints"><thead><tr><th>epoch</th><th>log size</th><th>root</th><th>cosigners</th></tr></thead><tbody></tbody></table>
<h2>Snapshots</h2>
<table id="snapshots"><thead><tr><th>name</th><th>root</th><th>bytes</th><th>replicas</th><th>here</th></tr></thead><tbody></tbody></table>
<h2>Peers</h2>
<table id="peers"><thead><tr><th>name</th><th>member</th></tr></thead><tbody></tbody></table>
<p class="mono">node <span id="me"></span> · log root <span id="logRoot"></span></p>
<script>
const $ = (id) => document.getElementById(id)
const short = (x) => (x && x.length > 20 ? x.slice(0, 14) + '…' + x.slice(-4) : x ?? '')
function rows(id, list, cells) {
  const body = $(id).tBodies[0]
  if (list.length === 0) {
    const tr = document.createElement('tr'), td = document.createElement('td')
    td.colSpan = $(id).tHead.rows[0].cells.length
    td.textContent = 'none'
    td.className = 'left'
    tr.append(td)
    return body.replaceChildren(tr)
  }
  body.replaceChildren(...list.map((item) => {
    const tr = document.createElement('tr')
    for (const [text, cls] of cells(item)) {
      const td = document.createElement('td')
      td.textContent = String(text)
      if (cls) td.className = cls
      tr.append(td)
    }
    return tr
  }))
}
function chart(ms) {
  const svg = $('chart'), w = 600, h = 120, max = Math.max(50, ...ms)
  const ns = 'http://www.w3.org/2000/svg'
  const parts = []
  const step = ms.length > 1 ? w / (ms.length - 1) : w
  const pts = ms.map((v, i) => (i * step).toFixed(1) + ',' + (h - 6 - (v / max) * (h - 18)).toFixed(1)).join(' ')
  const line = document.createElementNS(ns, 'polyline')
  line.setAttribute('points', pts); line.setAttribute('fill', 'none'); line.setAttribute('stroke', '#2271b1'); line.setAttribute('stroke-width', '1.5')
  const label = document.createElementNS(ns, 'text')
  label.setAttribute('x', '4'); label.setAttribute('y', '12'); label.setAttribute('font-size', '10'); label.textContent = 'max ' + max + ' ms'
  svg.replaceChildren(line, label)
}
async function refresh() {
  try {
    const r = await fetch('status.json', { cache: 'no-store' })
    const s = await r.json()
    $('network').textContent = s.node.network
    $('height').textContent = s.node.height
    $('epoch').textContent = s.node.epoch
    $('view').textContent = s.node.view
    $('logSize').textContent = s.node.logSize
    $('peerCount').textContent = s.peers.length
    $('finality').textContent = s.finality.p50Ms === null ? '–' : s.finality.p50Ms + ' / ' + s.finality.p99Ms + ' ms'
    $('me').textContent = s.node.id + (s.node.name ? ' (' + s.node.name + ')' : '')
    $('logRoot').textContent = s.node.logRoot
    chart(s.finality.recentMs)
    rows('members', s.members, (m) => [[m.name], [short(m.id), 'mono'], [m.status, m.status], [m.weight / 1000], [(m.standing / 10) + '%'], [m.strikes], [m.dutiesDone], [m.dutiesMissed], [m.joinedEpoch === 0 ? 'founder' : 'epoch ' + m.joinedEpoch], [m.sponsors.join(', ')], [m.exileReason]])
    const duties = s.duties === null ? [] : [
      ...s.duties.audits.map((a) => ['audit', short(a.root), short(a.replica), a.chunks.join(','), a.state]),
      ...s.duties.replicas.map((x) => ['hold', short(x.root), x.name, 'epoch ' + x.since, x.holding]),
    ]
    rows('duties', duties, (d) => d.map((t) => [t]))
    rows('checkpoints', s.checkpoints, (c) => [[c.epoch], [c.size], [short(c.root), 'mono'], [c.cosigners]])
    rows('snapshots', s.snapshots, (x) => [[x.name], [short(x.root), 'mono'], [x.size], [x.replicas.length], [x.holding]])
    rows('peers', s.peers, (p) => [[p.name], [short(p.id), 'mono']])
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString()
  } catch (err) {
    $('updated').textContent = 'cannot reach the node: ' + err
  }
}
refresh()
setInterval(refresh, 1000)
</script>
</body>
</html>
`

export class StatusServer {
  private readonly server: Server
  readonly url: string

  private constructor(server: Server, url: string) {
    this.server = server
    this.url = url
  }

  /** Listen on HOST:PORT (port 0 picks one). A port in use is a TrothError naming it. */
  static async start(listen: string, d: Daemon, metrics: NodeMetrics): Promise<StatusServer> {
    const colon = listen.lastIndexOf(':')
    const host = listen.slice(0, colon).replace(/^\[|\]$/g, '')
    const port = Number(listen.slice(colon + 1))
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TrothError('input.invalid', `status listen ${listen}: bad port`)
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]
      const send = (code: number, type: string, body: string): void => {
        res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' })
        res.end(req.method === 'HEAD' ? undefined : body)
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'read-only\n')
      const answer = async (): Promise<void> => {
        if (path === '/') return send(200, 'text/html; charset=utf-8', PAGE)
        if (path === '/status.json') return send(200, 'application/json', `${JSON.stringify(await statusPageData(d))}\n`)
        if (path === '/metrics') {
          const m = await metrics.render()
          return send(200, m.type, m.text)
        }
        send(404, 'text/plain', 'not found\n')
      }
      answer().catch((err: unknown) => send(500, 'text/plain', `${(err as Error).message}\n`))
    })
    server.requestTimeout = 10_000
    server.headersTimeout = 5_000
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(new TrothError('input.invalid', err.code === 'EADDRINUSE' ? `status listen ${listen}: the port is in use (set status.listen to another port, or "" to turn the page off)` : `status listen ${listen}: ${err.message}`))
      })
      server.listen(port, host, () => resolve())
    })
    const addr = server.address() as { address: string; port: number; family: string }
    const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
    return new StatusServer(server, `http://${shown}:${addr.port}/`)
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
