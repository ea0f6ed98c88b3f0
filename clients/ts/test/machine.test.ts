// Machine conformance: sim/testdata/clientvectors holds the client side of
// every Go simulator scenario and of a few chaos runs, written by
// go test ./sim -run TestClientVectors -update. Each client machine in them
// is replayed here: the same configuration, the same inputs at the same
// times, the same random bytes; every step must fail or succeed as Go's did
// and every ready() must equal Go's Ready, byte for byte.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { ClientMachine, type MachineConfig, type MachineEvent, type MachineInput, type Lost, type Ready } from '../src/machine.js'
import { BetterSocketError, CloseError, RemoteError } from '../src/errors.js'
import { decodeMessage, encodeFrame } from '../src/wire.js'
import { SecureError, secure } from '../src/secure.js'
import { fromHex, toHex, readJSON, repoRoot } from './util.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

interface VectorFile { name: string, machines: Array<{ client: string, incarnation: number, config: Json, log: Json[] }> }

const transportError = new Error('transport')

function hexOrNull (b: Uint8Array | null): string | null { return b === null ? null : toHex(b) }
const ns = (ms: number): number => Math.round(ms * 1e6)

function errJSON (err: unknown): Json | null {
  if (err === null || err === undefined) return null
  if (err instanceof CloseError) return { kind: 'close', code: err.code, reason: err.reason, remote: err.remote }
  if (err instanceof RemoteError) return { kind: 'remote', code: err.code, message: err.message }
  if (err instanceof SecureError) return { kind: 'secure', secure: err.kind, message: err.message }
  if (err instanceof BetterSocketError && ['request-timeout', 'session-lost', 'resume-refused', 'idle-timeout', 'handshake-timeout'].includes(err.code)) return { kind: err.code }
  assert.equal(err, transportError, `unexpected error ${String(err)}`)
  return { kind: 'transport' }
}

function lostJSON (l: Lost): Json {
  return {
    unacked: l.unacked.map(f => ({ seq: f.seq, type: f.type, id: f.id, payload: hexOrNull(f.payload), room: f.room, name: f.name })),
    requests: l.requests,
    lastReceived: l.lastReceived
  }
}

function eventJSON (e: MachineEvent): Json {
  switch (e.type) {
    case 'session-started': case 'resumed': return { type: e.type, client: toHex(e.client) }
    case 'dial': return { type: e.type, at: ns(e.at), attempt: e.attempt }
    case 'connection-lost': return { type: e.type, err: errJSON(e.err) }
    case 'delivered': return { type: e.type, client: toHex(e.client), seq: e.seq, payload: hexOrNull(e.payload), room: e.room, name: e.name }
    case 'request': return { type: e.type, client: toHex(e.client), id: e.id, name: e.name, payload: hexOrNull(e.payload) }
    case 'response': return { type: e.type, client: toHex(e.client), id: e.id, payload: hexOrNull(e.payload), err: errJSON(e.err) }
    case 'session-lost': case 'closed': return { type: e.type, client: toHex(e.client), err: errJSON(e.err), lost: lostJSON(e.lost) }
  }
}

function readyJSON (rd: Ready): Json {
  return {
    op: 'ready',
    transmit: rd.transmit.map(toHex),
    hangup: rd.hangup,
    events: rd.events.map(eventJSON),
    deadline: rd.deadline === null ? null : ns(rd.deadline)
  }
}

function input (j: Json): MachineInput {
  const bytes = (h: string | null): Uint8Array | null => (h === null ? null : fromHex(h))
  switch (j.type) {
    case 'connected': return { type: 'connected', conn: j.conn }
    case 'recv': return { type: 'recv', conn: j.conn, data: fromHex(j.data) }
    case 'disconnected': return { type: 'disconnected', conn: j.conn, err: transportError }
    case 'timeout': return { type: 'timeout' }
    case 'send': return { type: 'send', name: j.name, payload: bytes(j.payload) }
    case 'call': return { type: 'call', id: j.id, name: j.name, payload: bytes(j.payload), timeoutMs: j.timeoutMs }
    case 'publish': return { type: 'publish', id: j.id, room: j.room, name: j.name, payload: bytes(j.payload), timeoutMs: j.timeoutMs }
    case 'join': case 'leave': return { type: j.type, id: j.id, room: j.room, timeoutMs: j.timeoutMs }
    case 'reply': return { type: 'reply', id: j.id, payload: bytes(j.payload), error: j.error }
    case 'close': case 'abort': return { type: j.type, reason: j.reason }
  }
  throw new Error(`unknown input ${String(j.type)}`)
}

function config (c: Json, random: (n: number) => Uint8Array): MachineConfig {
  return {
    mode: c.mode,
    maxInflight: c.maxInflight,
    maxUnackedBytes: c.maxUnackedBytes,
    maxMessageSize: c.maxMessageSize,
    maxRequests: c.maxRequests,
    requestTimeoutMs: c.requestTimeoutMs,
    initialRtoMs: c.initialRtoMs,
    minRtoMs: c.minRtoMs,
    maxRtoMs: c.maxRtoMs,
    ackDelayMs: c.ackDelayMs,
    auth: c.auth === null ? null : fromHex(c.auth),
    handshakeTimeoutMs: c.handshakeTimeoutMs,
    closeTimeoutMs: c.closeTimeoutMs,
    reconnectMinMs: c.reconnectMinMs,
    reconnectMaxMs: c.reconnectMaxMs,
    random,
    secure: c.secure === undefined
      ? null
      : secure({
        mode: c.secure.mode,
        ...(c.secure.psk !== undefined ? { psk: fromHex(c.secure.psk) } : {}),
        ...(c.secure.serverKey !== undefined ? { serverKey: fromHex(c.secure.serverKey) } : {}),
        ...(c.secure.privateKey !== undefined ? { privateKey: fromHex(c.secure.privateKey) } : {})
      })
  }
}

const dir = join(repoRoot, 'sim', 'testdata', 'clientvectors')
const files = readdirSync(dir).filter(f => f.endsWith('.json')).sort()

test('the vectors cover every scenario and the chaos runs', () => {
  assert.ok(files.length >= 47, `${files.length} vector files`)
  assert.ok(files.some(f => f.startsWith('chaos-datagram')))
  for (const mode of ['psk', 'server-key', 'mutual']) {
    assert.ok(files.includes(`chaos-stream-${mode}-3.json`) && files.includes(`chaos-datagram-${mode}-3.json`), `encrypted chaos runs in ${mode} mode`)
  }
  assert.ok(files.includes('secure-resume.json') && files.includes('secure-refuses-plaintext.json'))
})

for (const file of files) {
  test(`reproduces ${file}`, () => {
    const v = readJSON<VectorFile>(join('sim', 'testdata', 'clientvectors', file))
    assert.ok(v.machines.length > 0)
    for (const m of v.machines) {
      const where = `${file} ${m.client}#${m.incarnation}`
      let rand: Uint8Array = new Uint8Array(0)
      const random = (n: number): Uint8Array => {
        assert.ok(rand.length >= n, `${where}: drew ${n} random bytes, Go drew ${rand.length}`)
        const out = rand.slice(0, n)
        rand = rand.subarray(n)
        return out
      }
      const cm = new ClientMachine(config(m.config, random))
      m.log.forEach((op, i) => {
        const at = `${where} op ${i}`
        if (op.op === 'step') {
          rand = op.rand === undefined ? new Uint8Array(0) : fromHex(op.rand)
          let err: string | null = null
          try {
            cm.step(op.at / 1e6, input(op.in))
          } catch (e) {
            if (!(e instanceof BetterSocketError)) throw e
            err = e.code
          }
          assert.equal(err, op.err, `${at}: step ${JSON.stringify(op.in)}`)
          assert.equal(rand.length, 0, `${at}: Go drew ${rand.length} more random bytes`)
        } else {
          assert.deepEqual(readyJSON(cm.ready()), op, at)
        }
      })
    }
  })
}

test('setAuth replaces the credentials of the next HELLO and every later one; acked reports the window', () => {
  const hellos: Array<Uint8Array | null> = []
  const cm = new ClientMachine({ auth: new Uint8Array([1]), random: n => new Uint8Array(n) })
  const te = new TextEncoder()
  const drain = (): Ready => {
    const rd = cm.ready()
    for (const msg of rd.transmit) for (const f of decodeMessage(msg)) if (f.type === 1) hellos.push(f.auth)
    return rd
  }
  const id = new Uint8Array(16).fill(7)
  const welcome = (resumed: boolean, ack: number): Uint8Array => encodeFrame({
    type: 2, version: 1, id, token: null, heartbeatMs: 1000, idleTimeoutMs: 3000, resumed, ack,
    limits: { maxMessageSize: 1 << 20, maxInflight: 64, maxRequests: 64 }
  })
  cm.step(0, { type: 'connected', conn: 1 })
  drain()
  cm.step(1, { type: 'recv', conn: 1, data: welcome(false, 0) })
  drain()
  assert.deepEqual(cm.acked(), { sent: 0, acked: 0 })
  cm.step(2, { type: 'send', payload: te.encode('a') })
  cm.step(2, { type: 'send', payload: te.encode('b') })
  drain()
  assert.deepEqual(cm.acked(), { sent: 2, acked: 0 })
  cm.step(3, { type: 'recv', conn: 1, data: encodeFrame({ type: 3, ack: 1 }) })
  assert.deepEqual(cm.acked(), { sent: 2, acked: 1 })

  cm.step(4, { type: 'setAuth', auth: new Uint8Array([2]) })
  assert.equal(hellos.length, 1, 'setAuth sends nothing on the live connection')
  cm.step(5, { type: 'disconnected', conn: 1 })
  drain()
  cm.step(6, { type: 'connected', conn: 2 })
  drain()
  cm.step(7, { type: 'recv', conn: 2, data: welcome(true, 2) })
  drain()
  assert.deepEqual(cm.acked(), { sent: 2, acked: 2 })
  cm.step(8, { type: 'disconnected', conn: 2 })
  drain()
  cm.step(9, { type: 'connected', conn: 3 })
  drain()
  assert.deepEqual(hellos, [new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([2])])
})

test('transport messages stay within the peer limit, and stay intact while later ones are written', () => {
  const cm = new ClientMachine({ random: n => new Uint8Array(n) })
  const welcome = encodeFrame({
    type: 2, version: 1, id: new Uint8Array(16).fill(3), token: null, heartbeatMs: 1000, idleTimeoutMs: 3000, resumed: false, ack: 0,
    limits: { maxMessageSize: 300, maxInflight: 1024, maxRequests: 64 }
  })
  cm.step(0, { type: 'connected', conn: 1 })
  cm.ready()
  cm.step(1, { type: 'recv', conn: 1, data: welcome })
  cm.ready()
  const batches: Uint8Array[][] = []
  const copies: Uint8Array[][] = []
  let seq = 0
  for (const [count, size] of [[5, 100], [3, 200], [40, 150]] as const) {
    for (let i = 0; i < count; i++) cm.step(2, { type: 'send', payload: new Uint8Array(size).fill(++seq) })
    const rd = cm.ready()
    batches.push(rd.transmit)
    copies.push(rd.transmit.map(m => m.slice()))
  }
  assert.deepEqual(batches.map(b => b.length), [3, 3, 40])
  assert.deepEqual(batches, copies, 'what was handed out earlier was not overwritten')
  const frames = batches.flat().flatMap(m => {
    assert.ok(m.length <= 300, `a message of ${m.length} bytes`)
    return decodeMessage(m)
  })
  assert.deepEqual(frames.map(f => f.type === 5 ? [f.seq, f.payload?.[0], f.payload?.length] : null),
    Array.from({ length: 48 }, (_, i) => [i + 1, i + 1, i < 5 ? 100 : i < 8 ? 200 : 150]))

  // A frame larger than the writer's buffer.
  const big = new ClientMachine({ random: n => new Uint8Array(n) })
  big.step(0, { type: 'connected', conn: 1 })
  big.ready()
  big.step(1, { type: 'recv', conn: 1, data: encodeFrame({ ...decodeMessage(welcome)[0] as Extract<ReturnType<typeof decodeMessage>[number], { type: 2 }>, limits: { maxMessageSize: 1 << 20, maxInflight: 64, maxRequests: 64 } }) })
  big.ready()
  big.step(2, { type: 'send', payload: new Uint8Array(10).fill(1) })
  big.step(2, { type: 'send', payload: new Uint8Array(100_000).fill(2) })
  const [msg] = big.ready().transmit
  assert.deepEqual(decodeMessage(msg as Uint8Array).map(f => f.type === 5 ? [f.payload?.length, f.payload?.[0], f.payload?.at(-1)] : null), [[10, 1, 1], [100_000, 2, 2]])
})

test('requests time out in deadline order, equal deadlines in the order they started, answered ones never', () => {
  const cm = new ClientMachine({ requestTimeoutMs: 1000, random: n => new Uint8Array(n) })
  cm.step(0, { type: 'connected', conn: 1 })
  cm.ready()
  cm.step(1, {
    type: 'recv',
    conn: 1,
    data: encodeFrame({
      type: 2, version: 1, id: new Uint8Array(16).fill(9), token: null, heartbeatMs: 60_000, idleTimeoutMs: 120_000, resumed: false, ack: 0,
      limits: { maxMessageSize: 1 << 20, maxInflight: 1024, maxRequests: 1024 }
    })
  })
  cm.ready()
  // id: timeout (ms), started at t=10; 0 means the default (1000).
  const timeouts: Array<[number, number]> = [[1, 300], [2, 100], [3, 200], [4, 100], [5, 0], [6, 300], [7, 50], [8, 200]]
  for (const [id, t] of timeouts) cm.step(10, { type: 'call', id, payload: null, ...(t > 0 ? { timeoutMs: t } : {}) })
  const sent = cm.ready().transmit.flatMap(m => decodeMessage(m))
  assert.deepEqual(sent.map(f => f.type === 6 ? f.id : -1), [1, 2, 3, 4, 5, 6, 7, 8])
  // Answer 3 (seq 3), the first of the 200 ms ones, so that its entry goes stale.
  cm.step(20, { type: 'recv', conn: 1, data: encodeFrame({ type: 7, seq: 1, ack: 8, id: 3, payload: null, error: null }) })
  assert.deepEqual(cm.ready().events.map(e => e.type === 'response' ? [e.id, e.err] : null), [[3, null]])
  // The answered id starts again with a later deadline: its old entry must not fire it early.
  cm.step(20, { type: 'call', id: 3, payload: null, timeoutMs: 900 })
  const deadlines: number[] = []
  const fired: number[] = []
  for (;;) {
    const rd = cm.ready()
    for (const e of rd.events) if (e.type === 'response') { assert.equal((e.err as BetterSocketError).code, 'request-timeout'); fired.push(e.id) }
    if (rd.deadline === null || rd.deadline > 60_000) break
    deadlines.push(rd.deadline)
    cm.step(rd.deadline, { type: 'timeout' })
  }
  assert.deepEqual(fired, [7, 2, 4, 8, 1, 6, 3, 5])
  assert.deepEqual(deadlines, [60, 110, 210, 310, 920, 1010])
})
