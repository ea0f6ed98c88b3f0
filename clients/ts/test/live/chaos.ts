// The live test's client side: run by the Go test TestTypeScriptLive
// (adapters/gorilla/typescript_test.go) against a real gorilla server that
// kills connections while this runs. Usage:
//
//	node build/test/live/chaos.js <ws-url> <clients> <messages> <broadcasts>
//
// Each client joins room "all", sends <messages> messages "m <i> <seq>"
// (every 10th emitted with the event name "m") and a request "q <i> <k>"
// after every 100th (every other one invoking the method "echo"), answers
// the server's requests (unnamed ones in onRequest, those naming "sq" in
// its handler), and checks that the server's messages "s <seq>" (every
// 10th named "tick", routed to its handler) and broadcasts "b <k>" arrive
// exactly once and in order and that every request has exactly one
// outcome, a response. Once it has them all, it publishes `publishes`
// messages "p <i> <k>" named "pub" to room "all", each of which must be
// accepted, and waits for every other client's, exactly once and in order
// per publisher, never its own. Every connection attempt presents a fresh
// token "token <i> <n>" (credentials, n counting up), which the server's
// Authorize checks; before the publishes each client flushes (everything
// it sent is acknowledged) and must be in room "all" by its own account.
// It prints a JSON summary and exits non-zero on any mismatch.
//
// With BS_SECURE set ({"serverKey": ..., "privateKeys": [...]}, keys in
// base64, as TestTypeScriptLiveSecure sets it) every client encrypts in
// mutual mode, client i with the i-th private key, which the server checks.
import { connect, raw, type Client } from '../../src/node.js'
import { secure } from '../../src/secure.js'

const [url, nClients, nMessages, nBroadcasts] = [process.argv[2] as string, Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])]
const keys = process.env.BS_SECURE === undefined ? null : JSON.parse(process.env.BS_SECURE) as { serverKey: string, privateKeys: string[] }
const te = new TextEncoder()
const td = new TextDecoder()
const text = (b: unknown): string => td.decode(b as Uint8Array)
const publishes = 20

interface Summary {
  client: number
  id: string
  received: number
  broadcasts: number
  requests: number
  responses: number
  served: number
  published: number
  pubReceived: number
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
  let finishPubs: () => void = () => {}
  const pubsIn = new Promise<void>(resolve => { finishPubs = resolve })
  const nextP = new Map<number, number>()
  let pubReceived = 0
  const serve = (p: unknown): Uint8Array => { served++; return te.encode('re:' + text(p)) }
  let tokens = 0
  const c: Client = await connect(url, {
    codec: raw,
    reconnectMinMs: 1,
    reconnectMaxMs: 50,
    onRequest: serve,
    credentials: async () => te.encode(`token ${i} ${++tokens}`),
    secure: keys === null ? null : secure({ mode: 'mutual', serverKey: keys.serverKey, privateKey: keys.privateKeys[i] as string })
  })
  c.handleRequest('sq', serve)
  const serverMessage = (s: string): void => {
    if (s !== `s ${nextS}`) errors.push(`message ${JSON.stringify(s)}, want "s ${nextS}"`)
    else nextS++
    check()
  }
  c.handleMessage('tick', (data, m) => {
    if (m.room !== '' || nextS % 10 !== 0) errors.push(`tick ${text(data)} in room ${JSON.stringify(m.room)} at s ${nextS}`)
    serverMessage(text(data))
  })
  c.handleMessage('pub', (data, m) => {
    const [p, from, k] = text(data).split(' ')
    const want = (nextP.get(Number(from)) ?? 0) + 1
    if (m.room !== 'all' || p !== 'p' || Number(from) === i || Number(k) !== want) errors.push(`publish ${JSON.stringify(text(data))} in room ${JSON.stringify(m.room)}, want k ${want}`)
    else nextP.set(Number(from), want)
    if (++pubReceived === (nClients - 1) * publishes) finishPubs()
  })
  c.on('message', (m) => {
    const s = text(m.data)
    if (m.name !== '') {
      errors.push(`message ${JSON.stringify(s)} named ${JSON.stringify(m.name)} reached the 'message' event`)
    } else if (m.room === 'all') {
      if (s !== `b ${nextB}`) errors.push(`broadcast ${JSON.stringify(s)}, want "b ${nextB}"`)
      else nextB++
      check()
    } else if (m.room === '') {
      if (nextS % 10 === 0) errors.push(`message ${JSON.stringify(s)} unnamed`)
      serverMessage(s)
    } else {
      errors.push(`message in room ${m.room}`)
    }
  })
  c.on('connectionLost', () => { reconnects++ })
  process.on('SIGTERM', () => {
    process.stderr.write(`client ${i} ${c.clientId}: at s ${nextS - 1}/${nMessages}, b ${nextB - 1}/${nBroadcasts}, served ${served}, publishes in ${pubReceived}, ${requests} requests, ${responses} responses, ${reconnects} lost, ${resumes} resumes; errors ${JSON.stringify(errors)}\n`)
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
    if (seq % 10 === 0) await c.emit('m', te.encode(`m ${i} ${seq}`))
    else await c.send(te.encode(`m ${i} ${seq}`))
    if (seq % 100 === 0) {
      const q = `q ${i} ${seq / 100}`
      requests++
      let outcomesSeen = 0
      const res = (seq / 100) % 2 === 0 ? c.invoke<Uint8Array, Uint8Array>('echo', te.encode(q)) : c.request<Uint8Array, Uint8Array>(te.encode(q))
      outcomes.push(res.then(
        (res) => { outcomesSeen++; responses++; if (text(res) !== 're:' + q) errors.push(`response ${text(res)} to ${q}`) },
        (err) => { outcomesSeen++; errors.push(`request ${q}: ${String(err)}`) }
      ).then(() => { if (outcomesSeen !== 1) errors.push(`request ${q}: ${outcomesSeen} outcomes`) }))
    }
  }
  await Promise.all(outcomes)
  await c.flush()
  if (c.rooms().join() !== 'all') errors.push(`rooms ${JSON.stringify(c.rooms())}, want ["all"]`)
  await allIn
  // Every client has joined (the broadcasts start once all did): each
  // publish reaches every other one.
  let published = 0
  await Promise.all(Array.from({ length: publishes }, async (_, k) => {
    try {
      await c.publish('all', te.encode(`p ${i} ${k + 1}`), { name: 'pub' })
      published++
    } catch (err) {
      errors.push(`publish ${k + 1}: ${String(err)}`)
    }
  }))
  if (nClients > 1) await pubsIn
  const lost = await c.close('done')
  if (lost.unacked.length > 0 || lost.requests.length > 0) errors.push(`close lost ${lost.unacked.length} messages, ${lost.requests.length} requests`)
  return { client: i, id: c.clientId, received: nextS - 1, broadcasts: nextB - 1, requests, responses, served, published, pubReceived, reconnects, resumes, errors }
}

const results = await Promise.all(Array.from({ length: nClients }, async (_, i) => await run(i)))
process.stdout.write(JSON.stringify(results) + '\n')
process.exitCode = results.some(r => r.errors.length > 0) ? 1 : 0
