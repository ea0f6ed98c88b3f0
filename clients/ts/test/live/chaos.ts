// The live test's client side: run by the Go test TestTypeScriptLive
// (adapters/gorilla/typescript_test.go) against a real gorilla server that
// kills connections while this runs. Usage:
//
//	node build/test/live/chaos.js <ws-url> <clients> <messages> <broadcasts>
//
// Each client joins room "all", sends <messages> messages "m <i> <seq>" and
// a request "q <i> <k>" after every 100th, answers the server's requests,
// and checks that the server's messages "s <seq>" and broadcasts "b <k>"
// arrive exactly once and in order and that every request has exactly one
// outcome, a response. It prints a JSON summary and exits non-zero on any
// mismatch.
import { connect, raw, type Client } from '../../src/node.js'

const [url, nClients, nMessages, nBroadcasts] = [process.argv[2] as string, Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])]
const te = new TextEncoder()
const td = new TextDecoder()
const text = (b: unknown): string => td.decode(b as Uint8Array)

interface Summary {
  client: number
  id: string
  received: number
  broadcasts: number
  requests: number
  responses: number
  served: number
  reconnects: number
  resumes: number
  errors: string[]
}

async function run (i: number): Promise<Summary> {
  const errors: string[] = []
  let nextS = 1
  let nextB = 1
  let served = 0
  let reconnects = 0
  let resumes = 0
  let finish: () => void = () => {}
  const allIn = new Promise<void>(resolve => { finish = resolve })
  const check = (): void => { if (nextS > nMessages && nextB > nBroadcasts) finish() }
  const c: Client = await connect(url, {
    codec: raw,
    reconnectMinMs: 1,
    reconnectMaxMs: 50,
    onRequest: (p) => { served++; return te.encode('re:' + text(p)) }
  })
  c.on('message', (m) => {
    const s = text(m.data)
    if (m.room === 'all') {
      if (s !== `b ${nextB}`) errors.push(`broadcast ${JSON.stringify(s)}, want "b ${nextB}"`)
      else nextB++
    } else if (m.room === '') {
      if (s !== `s ${nextS}`) errors.push(`message ${JSON.stringify(s)}, want "s ${nextS}"`)
      else nextS++
    } else {
      errors.push(`message in room ${m.room}`)
    }
    check()
  })
  c.on('connectionLost', () => { reconnects++ })
  process.on('SIGTERM', () => {
    process.stderr.write(`client ${i} ${c.clientId}: at s ${nextS - 1}/${nMessages}, b ${nextB - 1}/${nBroadcasts}, served ${served}, ${requests} requests, ${responses} responses, ${reconnects} lost, ${resumes} resumes; errors ${JSON.stringify(errors)}\n`)
    process.exitCode = 2
    setTimeout(() => process.exit(2), 100)
  })
  c.on('resumed', () => { resumes++ })
  c.on('sessionLost', (ev) => { errors.push(`session lost: ${String(ev.error)}`) })
  c.on('closed', (ev) => { if (ev.error !== null) errors.push(`closed: ${String(ev.error)}`) })
  let requests = 0
  let responses = 0
  const outcomes: Array<Promise<void>> = []
  await c.join('all')
  for (let seq = 1; seq <= nMessages; seq++) {
    await c.send(te.encode(`m ${i} ${seq}`))
    if (seq % 100 === 0) {
      const q = `q ${i} ${seq / 100}`
      requests++
      let outcomesSeen = 0
      outcomes.push(c.request<Uint8Array, Uint8Array>(te.encode(q)).then(
        (res) => { outcomesSeen++; responses++; if (text(res) !== 're:' + q) errors.push(`response ${text(res)} to ${q}`) },
        (err) => { outcomesSeen++; errors.push(`request ${q}: ${String(err)}`) }
      ).then(() => { if (outcomesSeen !== 1) errors.push(`request ${q}: ${outcomesSeen} outcomes`) }))
    }
  }
  await Promise.all(outcomes)
  await allIn
  const lost = await c.close('done')
  if (lost.unacked.length > 0 || lost.requests.length > 0) errors.push(`close lost ${lost.unacked.length} messages, ${lost.requests.length} requests`)
  return { client: i, id: c.clientId, received: nextS - 1, broadcasts: nextB - 1, requests, responses, served, reconnects, resumes, errors }
}

const results = await Promise.all(Array.from({ length: nClients }, async (_, i) => await run(i)))
process.stdout.write(JSON.stringify(results) + '\n')
process.exitCode = results.some(r => r.errors.length > 0) ? 1 : 0
