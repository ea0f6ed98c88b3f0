// The driver over a scripted WebSocket: this test plays the server frame by
// frame and checks the meaning of every outcome of the Promise API. A
// request ends in exactly one of: its response, a RemoteError, a timeout,
// session lost, aborted; a send waiting for the window can be aborted.
//
// Time is the test's: each test but the last (which talks to a real ws
// server) runs on a fake clock, setTimeout mocked (node:test's mock
// timers) and performance.now() mocked with it, and moves it itself
// (wait), a millisecond at a time, letting the event loop settle after
// each. So a timeout fires when the test says it does, however slow the
// machine is.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Client, type ClientOptions, type WebSocketLike } from '../src/client.js'
import { raw } from '../src/payload.js'
import { BetterSocketError, RemoteError } from '../src/errors.js'
import { decodeMessage, encodeFrame, concat, ErrorCode, type Frame } from '../src/wire.js'
import { connect as connectNode, type Message } from '../src/node.js'
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'

class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = []
  binaryType = 'blob'
  readyState = 0
  sent: Frame[] = []
  closed = false
  onopen: ((ev: unknown) => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  onclose: ((ev: unknown) => void) | null = null
  onerror: ((ev: unknown) => void) | null = null
  constructor (readonly url: string) { FakeSocket.all.push(this) }
  send (data: Uint8Array): void { this.sent.push(...decodeMessage(data)) }
  close (): void { this.closed = true }
  open (): void { this.readyState = 1; this.onopen?.({}) }
  deliver (...frames: Frame[]): void {
    const b = concat(frames.map(encodeFrame))
    this.onmessage?.({ data: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) })
  }
  drop (): void { this.onclose?.({ code: 1006 }) }
  fail (): void { this.onerror?.({}); this.onclose?.({ code: 1006 }) } // the WebSocket did not open
}

// Node.js 18 has no global crypto.getRandomValues: the tests bring their own.
const random = (n: number): Uint8Array => new Uint8Array(n)
// The fake clock of the running test (clocked), in milliseconds.
let clockNow = 0
let tick: ((ms: number) => void) | null = null

/** Lets every promise, microtask and socket event pending now run, and those they start. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve))
}

/** Moves the fake clock ms milliseconds, one at a time, firing what falls due and settling after each. */
const wait = async (ms: number): Promise<void> => {
  if (tick === null) throw new Error('wait outside a clocked test')
  for (let i = 0; i < ms; i++) {
    clockNow += 1
    tick(1)
    await settle()
  }
}

/** A few milliseconds: the driver's deferred work runs, nothing times out. */
const turn = async (): Promise<void> => { await wait(5) }

/** test() on the fake clock. */
function clocked (name: string, fn: () => Promise<void>): void {
  test(name, async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    clockNow = 1000
    t.mock.method(performance, 'now', () => clockNow)
    tick = (ms: number) => { t.mock.timers.tick(ms) }
    try {
      await fn()
    } finally {
      tick = null
    }
  })
}
const id1 = new Uint8Array(16).fill(1)
const id2 = new Uint8Array(16).fill(2)
const limits = { maxMessageSize: 1 << 20, maxInflight: 1024, maxRequests: 64 }
const welcome = (id: Uint8Array, resumed: boolean, ack: number): Frame =>
  ({ type: 2, version: 1, id, token: new Uint8Array(32).fill(9), heartbeatMs: 30000, idleTimeoutMs: 90000, resumed, ack, limits })
const te = new TextEncoder()
const td = new TextDecoder()

/** Connects a client to a fresh FakeSocket that welcomes it as session id1. */
async function connected (opts: ClientOptions = {}): Promise<{ c: Client, s: FakeSocket }> {
  FakeSocket.all = []
  const pending = connect('ws://test/', { WebSocket: FakeSocket, codec: raw, ackDelayMs: 0, random, ...opts })
  await turn()
  const s = FakeSocket.all[0] as FakeSocket
  s.open()
  await turn()
  s.deliver(welcome(id1, false, 0))
  return { c: await pending, s }
}

/** Settles p and records every outcome, so that a second one would show. */
function track<T> (p: Promise<T>): { outcomes: Array<{ ok: boolean, value: unknown }> } {
  const r = { outcomes: [] as Array<{ ok: boolean, value: unknown }> }
  p.then(v => r.outcomes.push({ ok: true, value: v }), e => r.outcomes.push({ ok: false, value: e }))
  return r
}

clocked('every request ends in exactly one outcome', async () => {
  FakeSocket.all = []
  const pending = connect('ws://test/', { WebSocket: FakeSocket, codec: raw, reconnectMinMs: 1, reconnectMaxMs: 2, ackDelayMs: 0, random })
  await turn()
  const s1 = FakeSocket.all[0] as FakeSocket
  s1.open()
  await turn()
  assert.equal(s1.sent[0]?.type, 1) // HELLO
  s1.deliver(welcome(id1, false, 0))
  const c = await pending
  assert.equal(c.clientId, '01010101-0101-0101-0101-010101010101')

  const ok = track(c.request(te.encode('a')))
  const remote = track(c.request(te.encode('b')))
  const timeout = track(c.request(te.encode('c'), { timeoutMs: 20 }))
  const ac = new AbortController()
  const abortedReq = track(c.request(te.encode('d'), { signal: ac.signal }))
  const lost = track(c.request(te.encode('e')))
  await turn()
  const reqs = s1.sent.filter(f => f.type === 6)
  assert.equal(reqs.length, 5)
  const [ra, rb, , rd] = reqs as Array<Extract<Frame, { type: 6 }>>
  s1.deliver(
    { type: 7, seq: 1, ack: 0, id: (ra as { id: number }).id, payload: te.encode('re:a'), error: null },
    { type: 7, seq: 2, ack: 0, id: (rb as { id: number }).id, payload: null, error: { code: 1001, message: 'nope' } }
  )
  ac.abort()
  await wait(60) // the 20 ms timeout passes
  s1.deliver({ type: 7, seq: 3, ack: 5, id: (rd as { id: number }).id, payload: te.encode('late'), error: null })
  await turn()

  // The connection drops; the server does not know the session any more.
  let sessionLost: { requests: number[] } | undefined
  c.on('sessionLost', ev => { sessionLost = ev.lost })
  s1.drop()
  await wait(20)
  const s2 = FakeSocket.all[1] as FakeSocket
  assert.ok(s2 !== undefined, 'reconnected')
  s2.open()
  await turn()
  const hello = s2.sent[0] as Extract<Frame, { type: 1 }>
  assert.equal(hello.type, 1)
  assert.deepEqual(hello.resume?.id, id1)
  assert.equal(hello.resume?.ack, 3)
  assert.equal(hello.resume?.attempt, 2)
  s2.deliver(welcome(id2, false, 0))
  await turn()

  assert.deepEqual(ok.outcomes.map(o => [o.ok, td.decode(o.value as Uint8Array)]), [[true, 're:a']])
  assert.equal(remote.outcomes.length, 1)
  assert.ok(remote.outcomes[0]?.value instanceof RemoteError)
  assert.equal((remote.outcomes[0]?.value as RemoteError).code, 1001)
  const code = (t: { outcomes: Array<{ value: unknown }> }): string[] => t.outcomes.map(o => (o.value as BetterSocketError).code)
  assert.deepEqual(code(timeout), ['request-timeout'])
  assert.deepEqual(code(abortedReq), ['aborted'])
  assert.deepEqual(code(lost), ['session-lost'])
  assert.ok(sessionLost !== undefined && sessionLost.requests.length === 1)
  assert.equal(c.clientId, '02020202-0202-0202-0202-020202020202')

  const report = track(c.close('bye'))
  await turn()
  assert.equal(s2.sent.at(-1)?.type, 8) // CLOSE
  assert.equal(report.outcomes.length, 1)
  await assert.rejects(c.send(te.encode('after')), (e: unknown) => e instanceof BetterSocketError && e.code === 'closed')
})

clocked('a send waits for the window, in order, and can be aborted while it waits', async () => {
  const { c, s } = await connected({ maxInflight: 2 })
  const first = track(c.send(te.encode('1')))
  const second = track(c.send(te.encode('2')))
  const ac = new AbortController()
  const third = track(c.send(te.encode('3'), { signal: ac.signal }))
  const fourth = track(c.send(te.encode('4')))
  await turn()
  assert.equal(first.outcomes.length + second.outcomes.length, 2)
  assert.equal(third.outcomes.length + fourth.outcomes.length, 0, 'the window of 2 is full')
  // A request waiting behind them is aborted too: one outcome, no stray rejection.
  const rac = new AbortController()
  const waitingReq = track(c.request(te.encode('q'), { signal: rac.signal }))
  ac.abort()
  rac.abort()
  await turn()
  assert.equal((third.outcomes[0]?.value as BetterSocketError).code, 'aborted')
  assert.deepEqual(waitingReq.outcomes.map(o => (o.value as BetterSocketError).code), ['aborted'])
  s.deliver({ type: 3, ack: 2 })
  await turn()
  assert.deepEqual(fourth.outcomes.map(o => o.ok), [true])
  const data = s.sent.filter(f => f.type === 5).map(f => td.decode((f as { payload: Uint8Array }).payload))
  assert.deepEqual(data, ['1', '2', '4'])
  s.deliver({ type: 3, ack: 3 })
  assert.deepEqual((await c.close()).unacked, [])
})

clocked('names: emit and invoke carry them; handlers route by name as the Go Mux', async () => {
  const { c, s } = await connected({ onRequest: () => te.encode('unnamed') })

  await c.emit('chat', te.encode('hi'))
  await c.emit('', te.encode('plain'))
  const quote = track(c.invoke('quote', te.encode('BTC')))
  await assert.rejects(c.emit('x'.repeat(256), te.encode('long')), (e: unknown) => e instanceof BetterSocketError && e.code === 'invalid')
  await turn()
  const sent = s.sent.filter(f => f.type === 5 || f.type === 6).map(f => [f.type, (f as { name: string }).name])
  assert.deepEqual(sent, [[5, 'chat'], [5, ''], [6, 'quote']])
  const q = s.sent.find(f => f.type === 6) as Extract<Frame, { type: 6 }>
  s.deliver({ type: 7, seq: 1, ack: 3, id: q.id, payload: te.encode('42'), error: null })
  await turn()
  assert.deepEqual(quote.outcomes.map(o => td.decode(o.value as Uint8Array)), ['42'])

  // Messages: a named one with a handler goes to it, others to 'message' with their name.
  const routed: string[] = []
  const events: string[] = []
  const off = c.handleMessage<Uint8Array>('tick', (data, m) => routed.push(`${m.name}:${m.room}:${td.decode(data)}`))
  assert.throws(() => c.handleMessage('tick', () => {}), TypeError)
  assert.throws(() => c.handleMessage('', () => {}), TypeError)
  assert.throws(() => c.handleRequest('\ud800', () => 1), TypeError)
  c.on('message', m => events.push(`${m.name}:${m.room}:${td.decode(m.data as Uint8Array)}`))
  s.deliver(
    { type: 5, seq: 2, ack: 3, payload: te.encode('1'), room: '', name: 'tick' },
    { type: 5, seq: 3, ack: 3, payload: te.encode('2'), room: 'lobby', name: 'other' },
    { type: 5, seq: 4, ack: 3, payload: te.encode('3'), room: '', name: '' }
  )
  await turn()
  off()
  s.deliver({ type: 5, seq: 5, ack: 3, payload: te.encode('4'), room: '', name: 'tick' })
  await turn()
  assert.deepEqual(routed, ['tick::1'])
  assert.deepEqual(events, ['other:lobby:2', '::3', 'tick::4'])

  // Requests: a named one goes to its handler, an unknown method is NotFound, unnamed ones to onRequest.
  c.handleRequest<Uint8Array, Uint8Array>('echo', (req, ctx) => te.encode(`${ctx.name}:${td.decode(req)}`))
  s.deliver(
    { type: 6, seq: 6, ack: 3, id: 1, payload: te.encode('a'), name: 'echo' },
    { type: 6, seq: 7, ack: 3, id: 2, payload: te.encode('b'), name: 'nope' },
    { type: 6, seq: 8, ack: 3, id: 3, payload: te.encode('c'), name: '' }
  )
  await turn()
  const replies = s.sent.filter((f): f is Extract<Frame, { type: 7 }> => f.type === 7)
    .map(f => [f.id, f.payload === null ? null : td.decode(f.payload), f.error?.code ?? null]).sort((x, y) => (x[0] as number) - (y[0] as number))
  assert.deepEqual(replies, [[1, 'echo:a', null], [2, null, 3], [3, 'unnamed', null]])
  s.deliver({ type: 3, ack: 6 })
  assert.deepEqual((await c.close()).unacked, [])
})

clocked('publish resolves when accepted and rejects with the typed outcome', async () => {
  const { c, s } = await connected()
  const ok = track(c.publish('lobby', te.encode('hi all'), { name: 'chat' }))
  const forbidden = track(c.publish('elsewhere', te.encode('x')))
  const partial = track(c.publish('lobby', te.encode('y')))
  await assert.rejects(c.publish('', te.encode('z')), (e: unknown) => e instanceof BetterSocketError && e.code === 'invalid')
  await turn()
  const pubs = s.sent.filter((f): f is Extract<Frame, { type: 11 }> => f.type === 11)
  assert.deepEqual(pubs.map(p => [p.room, p.name, td.decode(p.payload as Uint8Array)]), [['lobby', 'chat', 'hi all'], ['elsewhere', '', 'x'], ['lobby', '', 'y']])
  s.deliver(
    { type: 7, seq: 1, ack: 3, id: (pubs[0] as { id: number }).id, payload: null, error: null },
    { type: 7, seq: 2, ack: 3, id: (pubs[1] as { id: number }).id, payload: null, error: { code: 2, message: 'not a member of the room' } },
    { type: 7, seq: 3, ack: 3, id: (pubs[2] as { id: number }).id, payload: null, error: { code: 5, message: '1 members skipped: send windows full' } }
  )
  await turn()
  assert.deepEqual(ok.outcomes, [{ ok: true, value: undefined }])
  const remote = (t: { outcomes: Array<{ ok: boolean, value: unknown }> }): unknown[] =>
    t.outcomes.map(o => [o.ok, o.value instanceof RemoteError ? o.value.code : String(o.value)])
  assert.deepEqual(remote(forbidden), [[false, ErrorCode.Forbidden]])
  assert.deepEqual(remote(partial), [[false, ErrorCode.Unavailable]])
  assert.deepEqual((await c.close()).unacked, [])
})

clocked('a request made while the window is full waits for room, then gets its one outcome', async () => {
  const { c, s } = await connected({ maxInflight: 1 })
  const first = track(c.send(te.encode('1')))
  const req = track(c.request(te.encode('q')))
  await turn()
  assert.deepEqual(first.outcomes.map(o => o.ok), [true])
  assert.equal(req.outcomes.length, 0)
  assert.deepEqual(s.sent.filter(f => f.type === 5 || f.type === 6).map(f => f.type), [5], 'the request waits for the window')
  s.deliver({ type: 3, ack: 1 })
  await turn()
  const r = s.sent.find((f): f is Extract<Frame, { type: 6 }> => f.type === 6)
  assert.ok(r !== undefined, 'the request went out once the window had room')
  s.deliver({ type: 7, seq: 1, ack: 2, id: r.id, payload: te.encode('a'), error: null })
  await turn()
  assert.deepEqual(req.outcomes.map(o => [o.ok, td.decode(o.value as Uint8Array)]), [[true, 'a']])
  assert.deepEqual((await c.close()).unacked, [])
})

/** Opens the i-th socket the client made (its next connection attempt) and lets the HELLO go out. */
async function opened (i: number): Promise<FakeSocket> {
  const s = FakeSocket.all[i]
  assert.ok(s !== undefined, `connection attempt ${i + 1}`)
  s.open()
  await turn()
  return s
}

const code = (e: unknown): string => e instanceof BetterSocketError ? e.code : e instanceof RemoteError ? `remote ${e.code}` : String(e)
const helloAuth = (s: FakeSocket): string | null => {
  const h = s.sent[0] as Extract<Frame, { type: 1 }>
  assert.equal(h.type, 1)
  return h.auth === null ? null : td.decode(h.auth)
}

clocked('the first connect retries failed attempts as connectFailed events; failFast gives up at once', async () => {
  FakeSocket.all = []
  const events: string[] = []
  const pending = connect('ws://test/', { WebSocket: FakeSocket, codec: raw, reconnectMinMs: 1, reconnectMaxMs: 2, ackDelayMs: 0, random })
  await turn()
  const s0 = FakeSocket.all[0] as FakeSocket
  s0.fail() // the server is not up yet
  await turn()
  const s1 = await opened(1)
  s1.drop() // up, but gone before WELCOME: an attempt, not a lost connection
  await turn()
  const s2 = await opened(2)
  s2.deliver(welcome(id1, false, 0))
  const c = await pending
  c.on('connectionLost', () => events.push('connectionLost'))
  c.on('connectFailed', ev => events.push(`connectFailed ${ev.attempt}`))
  c.on('resumed', () => events.push('resumed'))
  s2.drop()
  await turn()
  const s3 = await opened(3)
  s3.drop() // before WELCOME
  await turn()
  const s4 = FakeSocket.all[4] as FakeSocket
  s4.fail()
  await turn()
  const s5 = await opened(5)
  s5.deliver(welcome(id1, true, 0))
  await turn()
  assert.deepEqual(events, ['connectionLost', 'connectFailed 1', 'connectFailed 2', 'resumed'])
  await c.close()

  // A connect whose first attempt fails connects with the second.
  FakeSocket.all = []
  const seen: Array<[number, string]> = []
  const again = connect('ws://test/', { WebSocket: FakeSocket, codec: raw, reconnectMinMs: 1, reconnectMaxMs: 2, ackDelayMs: 0, random })
  await turn()
  ;(FakeSocket.all[0] as FakeSocket).fail()
  await turn()
  const t1 = await opened(1)
  t1.deliver(welcome(id1, false, 0))
  const c2 = await again
  assert.equal(c2.clientId, '01010101-0101-0101-0101-010101010101')
  await c2.close()

  FakeSocket.all = []
  const fast = connect('ws://test/', { WebSocket: FakeSocket, codec: raw, reconnectMinMs: 1, reconnectMaxMs: 2, ackDelayMs: 0, random, failFast: true })
  const outcome = track(fast)
  await turn()
  ;(FakeSocket.all[0] as FakeSocket).fail()
  await turn()
  await turn()
  assert.deepEqual(outcome.outcomes.map(o => [o.ok, String(o.value)]), [[false, 'Error: client: connection failed']])
  assert.equal(FakeSocket.all.length, 1, 'failFast makes no second attempt')

  // Without failFast, the abort names the last attempt's failure.
  FakeSocket.all = []
  const ac = new AbortController()
  const slow = track(connect('ws://test/', { WebSocket: FakeSocket, codec: raw, reconnectMinMs: 1, reconnectMaxMs: 2, ackDelayMs: 0, random, signal: ac.signal }))
  await turn()
  ;(FakeSocket.all[0] as FakeSocket).fail()
  await turn()
  ac.abort()
  await turn()
  seen.push(...slow.outcomes.map(o => [o.ok ? 1 : 0, (o.value as Error).message] as [number, string]))
  assert.deepEqual(seen, [[0, 'client: aborted (last attempt: Error: client: connection failed)']])
})

clocked('credentials are asked for before every connection attempt; a failure is a failed attempt', async () => {
  let calls = 0
  const failed: unknown[] = []
  const { c, s } = await connected({
    reconnectMinMs: 1,
    reconnectMaxMs: 2,
    credentials: async () => {
      calls++
      if (calls === 2) throw new Error('token service down')
      return te.encode(`token ${calls}`)
    }
  })
  c.on('connectFailed', ev => failed.push(ev.error))
  assert.equal(helloAuth(s), 'token 1')
  s.drop()
  await turn()
  await turn()
  assert.deepEqual(failed.map(String), ['Error: token service down'])
  const s2 = await opened(1)
  assert.equal(helloAuth(s2), 'token 3', 'the refreshed token')
  assert.equal(calls, 3)
  s2.deliver(welcome(id1, true, 0))
  await c.close()
})

clocked('rooms survive a lost session: joined again, with a roomsRejoined event', async () => {
  const { c, s } = await connected({ reconnectMinMs: 1, reconnectMaxMs: 2 })
  const events: string[] = []
  let rejoined: { clientId: string, rejoined: string[], refused: Array<{ room: string, error: unknown }> } | undefined
  c.on('sessionLost', () => events.push('sessionLost'))
  c.on('connected', () => events.push('connected'))
  c.on('roomsRejoined', ev => { events.push('roomsRejoined'); rejoined = ev })
  const joins = [track(c.join('b')), track(c.join('a')), track(c.join('c')), track(c.join('refused'))]
  await turn()
  const asked = s.sent.filter((f): f is Extract<Frame, { type: 9 }> => f.type === 9)
  assert.deepEqual(asked.map(f => f.room), ['b', 'a', 'c', 'refused'])
  s.deliver(...asked.map((f, i): Frame => ({ type: 7, seq: i + 1, ack: 4, id: f.id, payload: null, error: f.room === 'refused' ? { code: 2, message: 'no' } : null })))
  await turn()
  assert.deepEqual(joins.map(j => j.outcomes.length), [1, 1, 1, 1])
  const leave = track(c.leave('c'))
  await turn()
  const l = s.sent.find((f): f is Extract<Frame, { type: 10 }> => f.type === 10) as Extract<Frame, { type: 10 }>
  s.deliver({ type: 7, seq: 5, ack: 5, id: l.id, payload: null, error: null })
  await turn()
  assert.equal(leave.outcomes.length, 1)
  assert.deepEqual(c.rooms(), ['a', 'b'])

  s.drop()
  await turn()
  const s2 = await opened(1)
  s2.deliver(welcome(id2, false, 0)) // the server no longer knows the session
  await turn()
  assert.deepEqual(c.rooms(), [], 'the new session is in no room until the server agrees')
  const again = s2.sent.filter((f): f is Extract<Frame, { type: 9 }> => f.type === 9)
  assert.deepEqual(again.map(f => f.room), ['a', 'b'])
  s2.deliver(...again.map((f, i): Frame => ({ type: 7, seq: i + 1, ack: 2, id: f.id, payload: null, error: f.room === 'b' ? { code: 2, message: 'not any more' } : null })))
  await turn()
  assert.deepEqual(events, ['sessionLost', 'connected', 'roomsRejoined'])
  assert.ok(rejoined !== undefined)
  assert.equal(rejoined.clientId, '02020202-0202-0202-0202-020202020202')
  assert.deepEqual(rejoined.rejoined, ['a'])
  assert.deepEqual(rejoined.refused.map(r => [r.room, code(r.error)]), [['b', 'remote 2']])
  assert.deepEqual(c.rooms(), ['a'])
  await c.close()
})

clocked('flush waits for the acknowledgement of what was queued before it, across a resume', async () => {
  const { c, s } = await connected({ reconnectMinMs: 1, reconnectMaxMs: 2 })
  await c.flush() // nothing queued: at once
  await c.send(te.encode('1'))
  await c.send(te.encode('2'))
  const f1 = track(c.flush())
  await c.send(te.encode('3')) // after the call: not waited for
  await turn()
  s.deliver({ type: 3, ack: 1 })
  await turn()
  assert.equal(f1.outcomes.length, 0)
  s.deliver({ type: 3, ack: 2 })
  await turn()
  assert.deepEqual(f1.outcomes, [{ ok: true, value: undefined }])

  const ac = new AbortController()
  const aborted = track(c.flush({ signal: ac.signal }))
  const resumed = track(c.flush())
  ac.abort()
  s.drop()
  await turn()
  const s2 = await opened(1)
  assert.equal(resumed.outcomes.length, 0, 'still waiting while reconnecting')
  s2.deliver(welcome(id1, true, 3))
  await turn()
  assert.deepEqual(aborted.outcomes.map(o => code(o.value)), ['aborted'])
  assert.deepEqual(resumed.outcomes, [{ ok: true, value: undefined }])

  await c.send(te.encode('4'))
  const lost = track(c.flush())
  s2.drop()
  await turn()
  const s3 = await opened(2)
  s3.deliver(welcome(id2, false, 0))
  await turn()
  assert.deepEqual(lost.outcomes.map(o => code(o.value)), ['session-lost'])

  await c.send(te.encode('5'))
  const closed = track(c.flush())
  s3.deliver({ type: 8, code: 1008, reason: 'policy' })
  await turn()
  assert.deepEqual(closed.outcomes.map(o => code(o.value)), ['closed'])
  await assert.rejects(c.flush(), (e: unknown) => code(e) === 'closed')
})

clocked('dialTimeoutMs bounds each attempt: credentials and the opening; a closing client abandons its attempt', async () => {
  FakeSocket.all = []
  const slow = track(connect('ws://test/', { WebSocket: FakeSocket, codec: raw, random, failFast: true, dialTimeoutMs: 10 }))
  await wait(40) // the socket never opens
  assert.deepEqual(slow.outcomes.map(o => code(o.value)), ['handshake-timeout'])
  const s0 = FakeSocket.all[0] as FakeSocket
  assert.ok(s0.closed, 'the socket that did not open is closed')
  assert.equal(FakeSocket.all.length, 1)

  FakeSocket.all = []
  let calls = 0
  const failures: string[] = []
  const pending = connect('ws://test/', {
    WebSocket: FakeSocket, codec: raw, random, reconnectMinMs: 1, reconnectMaxMs: 2, dialTimeoutMs: 30,
    credentials: async () => (++calls === 1 ? await new Promise<Uint8Array>(() => {}) : te.encode('late enough'))
  })
  // The first credentials never come: the attempt times out, and the
  // second one makes a socket.
  for (let i = 0; i < 100 && FakeSocket.all.length === 0; i++) await wait(1)
  assert.equal(calls, 2)
  const s = await opened(0)
  assert.equal(helloAuth(s), 'late enough')
  s.deliver(welcome(id1, false, 0))
  const c = await pending
  c.on('connectFailed', ev => failures.push(code(ev.error)))
  s.drop()
  await turn()
  assert.equal(FakeSocket.all.length, 2, 'reconnecting')
  await c.close() // while the attempt's socket is still opening
  const s1 = FakeSocket.all[1] as FakeSocket
  assert.ok(s1.closed, 'the attempt under way is abandoned')
  s1.open() // too late: nobody listens
  await turn()
  assert.deepEqual(s1.sent, [])
  assert.deepEqual(failures, [])
  assert.equal(calls, 3)
})

clocked('a run of round trips arms no timer for its acknowledgements, and one nobody carries still goes', async () => {
  // The server answers each request a task later, as a real socket would.
  class Answering extends FakeSocket {
    seq = 0
    override send (data: Uint8Array): void {
      super.send(data)
      for (const f of decodeMessage(data)) {
        if (f.type !== 6) continue
        const r: Frame = { type: 7, seq: ++this.seq, ack: f.seq, id: f.id, payload: f.payload, error: null }
        setImmediate(() => this.deliver(r))
      }
    }
  }
  FakeSocket.all = []
  const pending = connect('ws://test/', { WebSocket: Answering, codec: raw, ackDelayMs: 20, random })
  await turn()
  const s = FakeSocket.all[0] as Answering
  s.open()
  await turn()
  s.deliver(welcome(id1, false, 0))
  const c = await pending
  await turn()
  const before = s.sent.length // HELLO, and the ACK of the WELCOME

  const real = globalThis.setTimeout
  let armed = 0
  globalThis.setTimeout = ((fn: () => void, ms?: number) => { armed++; return real(fn, ms) }) as typeof setTimeout
  try {
    for (let i = 0; i < 50; i++) assert.deepEqual(await c.request(te.encode(`r${i}`)), te.encode(`r${i}`))
  } finally {
    globalThis.setTimeout = real
  }
  // Each request carried the acknowledgement of the response before it:
  // no ACK frame, and no timer for one.
  const run = s.sent.slice(before)
  assert.deepEqual(run.map(f => f.type === 6 ? f.ack : f), Array.from({ length: 50 }, (_, i) => i))
  assert.equal(armed, 0)

  // The last response's acknowledgement has no request to ride on: it goes
  // alone once ackDelayMs has passed.
  for (let i = 0; i < 200 && s.sent.length === before + 50; i++) await turn()
  assert.deepEqual(s.sent.slice(before + 50), [{ type: 3, ack: 50 }])
  await c.close()
})

test('in Node.js over the ws package: binary messages are the protocol, text ones are ignored, no compression is offered', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(wss, 'listening')
  let extensions: string | undefined = 'none seen'
  const served = new Promise<ServerSocket>(resolve => wss.once('connection', (ws, req) => {
    extensions = req.headers['sec-websocket-extensions']
    resolve(ws)
  }))
  const pending = connectNode(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, { codec: raw, ackDelayMs: 0 })
  const ws = await served
  // What the server receives, and a wait for a frame among it.
  const frames: Frame[] = []
  let arrived = (): void => {}
  ws.on('message', (m: Buffer) => { frames.push(...decodeMessage(m)); arrived() })
  const until = async (ok: (f: Frame) => boolean): Promise<void> => {
    while (!frames.some(ok)) await new Promise<void>(resolve => { arrived = resolve })
  }
  await until(f => f.type === 1) // HELLO
  ws.send(encodeFrame(welcome(id1, false, 0)))
  const c = await pending
  const got: Message[] = []
  c.on('message', m => got.push(m))
  ws.send('a text message')
  ws.send(encodeFrame({ type: 5, seq: 1, ack: 0, payload: te.encode('hi'), room: '', name: '' }))
  await until(f => f.type === 3 && f.ack === 1) // the client has the message
  assert.deepEqual(got.map(m => [td.decode(m.payload as Uint8Array), m.seq]), [['hi', 1]])
  // Node.js 22's own WebSocket, which the client prefers, makes its own offer.
  if ((globalThis as { WebSocket?: unknown }).WebSocket === undefined) assert.equal(extensions, undefined)
  const closing = c.close()
  await until(f => f.type === 8)
  ws.close()
  await closing
  wss.close()
})
