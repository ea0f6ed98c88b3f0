// The client machine: one logical session that survives transport losses,
// with no I/O, no timers and no global randomness. It is the TypeScript
// counterpart of Go's session.Client and must behave exactly like it: the
// conformance suite (test/machine.test.ts) replays the client side of every
// Go simulator scenario, input by input, and requires the same transport
// messages, events and deadlines, byte for byte.
//
// Theory of operation. The driver steps inputs (transport up, a message
// arrived, transport gone, time passed, application commands) with the time
// they happened, then drains ready(): messages to write on the current
// connection, whether to hang it up, events for the application, and when
// to step a timeout next. Reliability (sequence numbers, cumulative acks,
// the send buffer, dedup and reordering, RTT/RTO) lives in Link, the
// session's identity and lifecycle in ClientMachine. Times are milliseconds
// on the driver's clock (performance.now()); inside they are integer
// nanoseconds, as in Go, so that backoff jitter and RTT arithmetic agree to
// the nanosecond.

import {
  CloseCode, FrameType, VERSION, DecodeError, DEFAULT_MAX_MESSAGE_SIZE, MAX_NAME_LEN, MAX_REASON_LEN, MAX_ROOM_LEN,
  checkMessage, frames, encodeFrame, concat, resumable,
  type Close, type Frame, type Hello, type Limits, type Welcome, type WireError
} from './wire.js'
import { BetterSocketError, CloseError, RemoteError } from './errors.js'

/** What the transport under the machine guarantees. */
export type Mode = 'stream' | 'datagram'

/**
 * Configuration of a [ClientMachine]. Every field is optional; its default
 * is given. Durations are in milliseconds.
 */
export interface MachineConfig {
  /** 'stream' (WebSocket, the default) or 'datagram' (lossy transports). */
  mode?: Mode
  /** Reliable frames kept unacknowledged (the send window). Default 1024. */
  maxInflight?: number
  /** Payload bytes kept unacknowledged. Default 4 MiB. */
  maxUnackedBytes?: number
  /** Largest transport message accepted, announced to the server. Default 1 MiB. */
  maxMessageSize?: number
  /** Requests waiting for a response, and the server's requests tracked. Default 1024. */
  maxRequests?: number
  /** Default request timeout, from when the request is first sent. Default 30 s. */
  requestTimeoutMs?: number
  /** Retransmission timeout bounds (datagram mode). Defaults 1 s, 200 ms, 60 s. */
  initialRtoMs?: number
  minRtoMs?: number
  maxRtoMs?: number
  /** How long an acknowledgement may wait for a frame to carry it. Default 0: at once. */
  ackDelayMs?: number
  /** Credentials sent in every HELLO. */
  auth?: Uint8Array | null
  /** Bound on the wait for WELCOME. Default 10 s. */
  handshakeTimeoutMs?: number
  /** Bound on a graceful close's wait for acknowledgements. Default 5 s. */
  closeTimeoutMs?: number
  /** Reconnect backoff: attempt n waits a random time in [0, min(max, min·2^(n-1))). Defaults 250 ms, 30 s. */
  reconnectMinMs?: number
  reconnectMaxMs?: number
  /** The source of all randomness: n random bytes. Default crypto.getRandomValues. */
  random?: (n: number) => Uint8Array
}

/** One reliable frame of this side that the server never acknowledged. */
export interface LostFrame { seq: number, type: number, id: number, payload: Uint8Array | null, room: string, name: string }
/** What a session that ended never got acknowledged. */
export interface Lost {
  /** This side's unacknowledged messages, requests and responses, in send order. */
  unacked: LostFrame[]
  /** This side's requests that had no outcome yet; each also got a response event with a session-lost error. */
  requests: number[]
  /** The last server sequence number received in order. */
  lastReceived: number
}

/** Events of the machine, in the order they happened. Times are in ms. */
export type MachineEvent =
  | { type: 'session-started', client: Uint8Array }
  | { type: 'resumed', client: Uint8Array }
  | { type: 'dial', at: number, attempt: number }
  | { type: 'connection-lost', err: unknown }
  | { type: 'delivered', client: Uint8Array, seq: number, payload: Uint8Array | null, room: string, name: string }
  | { type: 'request', client: Uint8Array, id: number, payload: Uint8Array | null, name: string }
  | { type: 'response', client: Uint8Array, id: number, payload: Uint8Array | null, err: Error | null }
  | { type: 'session-lost', client: Uint8Array, err: Error, lost: Lost }
  | { type: 'closed', client: Uint8Array, err: unknown, lost: Lost }

/**
 * Inputs of the machine. A name (send, call, publish) is the event or
 * method name delivered with the message or request: valid UTF-8 of at most
 * MAX_NAME_LEN bytes, '' or absent for none. A publish is a request like a
 * join: its outcome is a response event with its id (accepted, or a remote
 * error: ErrorCode.Forbidden when nobody got it, ErrorCode.Unavailable when
 * members with full send windows were skipped).
 */
export type MachineInput =
  | { type: 'connected', conn: number }
  | { type: 'recv', conn: number, data: Uint8Array }
  | { type: 'disconnected', conn: number, err?: unknown }
  | { type: 'timeout' }
  | { type: 'send', payload: Uint8Array | null, name?: string }
  | { type: 'call', id: number, payload: Uint8Array | null, name?: string, timeoutMs?: number }
  | { type: 'publish', id: number, room: string, payload: Uint8Array | null, name?: string, timeoutMs?: number }
  | { type: 'join', id: number, room: string, timeoutMs?: number }
  | { type: 'leave', id: number, room: string, timeoutMs?: number }
  | { type: 'reply', id: number, payload: Uint8Array | null, error?: WireError | null }
  | { type: 'close', reason: string }
  | { type: 'abort', reason: string }

/** What the machine asks its driver to do. */
export interface Ready {
  /** Transport messages to write, in order, on the current connection. */
  transmit: Uint8Array[]
  /** Close the current connection after writing transmit; the machine already considers it gone. */
  hangup: boolean
  /** What happened, in order. */
  events: MachineEvent[]
  /** When to step a timeout next (ms), or null for never. */
  deadline: number | null
}

const MS = 1e6 // nanoseconds per millisecond
const US = 1e3 // nanoseconds per microsecond
const HOUR = 3600e9

/** Bytes a reliable frame adds around its variable-length fields (as Go's frameOverhead). */
const FRAME_OVERHEAD = 1 + 1 + 3 * 9 + 2 * 9 + 1 + 5 + 2

const encoder = new TextEncoder()
const utf8len = (s: string): number => encoder.encode(s).length

function protocolErr (msg: string): BetterSocketError {
  return new BetterSocketError('protocol', 'session: protocol violation: ' + msg)
}

function typeName (t: number): string {
  return ['', 'HELLO', 'WELCOME', 'ACK', 'HEARTBEAT', 'DATA', 'REQUEST', 'RESPONSE', 'CLOSE', 'JOIN', 'LEAVE', 'PUBLISH'][t] ?? `FrameType(${t})`
}

/**
 * wireText makes s fit a CLOSE reason or an error message: valid UTF-8 of
 * at most 255 bytes, cut at a character boundary.
 */
export function wireText (s: string): string {
  let b = encoder.encode(s) // lone surrogates become U+FFFD, as Go's ToValidUTF8
  if (b.length > MAX_REASON_LEN) {
    let i = MAX_REASON_LEN
    while (i > 0 && ((b[i] as number) & 0xc0) === 0x80) i--
    b = b.subarray(0, i)
  }
  return new TextDecoder().decode(b)
}

/** Whether s is valid UTF-8 of at most max bytes once encoded. */
function validText (s: string, max: number): boolean {
  if (s.length > max) return false
  // Lone surrogates cannot be sent as UTF-8.
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?:[^\ud800-\udbff]|^)[\udc00-\udfff]/.test(s)) return false
  return utf8len(s) <= max
}

function checkRoom (room: string): void {
  if (room === '' || !validText(room, MAX_ROOM_LEN)) throw new BetterSocketError('invalid', `session: invalid command: room name must be 1..${MAX_ROOM_LEN} bytes of UTF-8`)
}

function checkName (name: string): void {
  if (name !== '' && !validText(name, MAX_NAME_LEN)) throw new BetterSocketError('invalid', `session: invalid command: a message or method name must be at most ${MAX_NAME_LEN} bytes of UTF-8`)
}

/** A reliable frame of this side, in the send buffer. */
interface OutFrame {
  seq: number
  type: number
  id: number
  payload: Uint8Array | null
  room: string
  name: string
  textLen: number // UTF-8 bytes of room and name
  err: WireError | null
  sentAt: number // 0: never sent
  retx: boolean
}

/** A received reliable frame, held for in-order delivery. */
interface InFrame { seq: number, type: number, id: number, payload: Uint8Array | null, room: string, name: string, err: WireError | null }

function outSize (f: OutFrame): number {
  return (f.payload?.length ?? 0) + f.textLen + (f.err !== null ? utf8len(f.err.message) : 0)
}
function inSize (f: InFrame): number {
  return (f.payload?.length ?? 0) + utf8len(f.room) + utf8len(f.name)
}

interface Cfg {
  mode: Mode
  maxInflight: number
  maxUnackedBytes: number
  maxMessageSize: number
  maxRequests: number
  requestTimeout: number
  initialRto: number
  minRto: number
  maxRto: number
  ackDelay: number
  auth: Uint8Array | null
  handshakeTimeout: number
  closeTimeout: number
  reconnectMin: number
  reconnectMax: number
  random: (n: number) => Uint8Array
}

function defaultRandom (n: number): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(n))
}

function normalize (c: MachineConfig): Cfg {
  const pos = (v: number | undefined, d: number): number => (v !== undefined && v > 0 ? v : d)
  const ns = (v: number | undefined, dMs: number): number => Math.round(pos(v, dMs) * MS)
  const cfg: Cfg = {
    mode: c.mode ?? 'stream',
    maxInflight: pos(c.maxInflight, 1024),
    maxUnackedBytes: pos(c.maxUnackedBytes, 4 << 20),
    maxMessageSize: Math.max(pos(c.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE), 256),
    maxRequests: pos(c.maxRequests, 1024),
    requestTimeout: ns(c.requestTimeoutMs, 30e3),
    initialRto: ns(c.initialRtoMs, 1e3),
    minRto: ns(c.minRtoMs, 200),
    maxRto: ns(c.maxRtoMs, 60e3),
    ackDelay: c.ackDelayMs !== undefined && c.ackDelayMs > 0 ? Math.round(c.ackDelayMs * MS) : 0,
    auth: c.auth ?? null,
    handshakeTimeout: ns(c.handshakeTimeoutMs, 10e3),
    closeTimeout: ns(c.closeTimeoutMs, 5e3),
    reconnectMin: ns(c.reconnectMinMs, 250),
    reconnectMax: ns(c.reconnectMaxMs, 30e3),
    random: c.random ?? defaultRandom
  }
  if (cfg.reconnectMax < cfg.reconnectMin) cfg.reconnectMax = cfg.reconnectMin
  return cfg
}

const enum Accept { Deliver, Dup, Hold, Overflow }

/** Packs frames into transport messages within the peer's size limit. */
class Writer {
  private parts: Uint8Array[] = []
  private size = 0
  private max = 0
  constructor (private readonly emit: (msg: Uint8Array) => void) {}
  begin (max: number): void { this.parts = []; this.size = 0; this.max = max }
  frame (f: Frame): void {
    if (f.type === FrameType.Close) f = { type: 8, code: f.code, reason: wireText(f.reason) }
    const b = encodeFrame(f)
    if (this.size + b.length > this.max && this.parts.length > 0) this.end()
    this.parts.push(b)
    this.size += b.length
  }
  end (): void {
    if (this.parts.length > 0) this.emit(concat(this.parts))
    this.parts = []
    this.size = 0
  }
  reliable (f: OutFrame, ack: number): void {
    switch (f.type) {
      case FrameType.Data: this.frame({ type: 5, seq: f.seq, ack, payload: f.payload, room: f.room, name: f.name }); break
      case FrameType.Request: this.frame({ type: 6, seq: f.seq, ack, id: f.id, payload: f.payload, name: f.name }); break
      case FrameType.Publish: this.frame({ type: 11, seq: f.seq, ack, id: f.id, room: f.room, name: f.name, payload: f.payload }); break
      case FrameType.Response: this.frame({
        type: 7, seq: f.seq, ack, id: f.id, payload: f.payload,
        error: f.err === null ? null : { code: f.err.code, message: wireText(f.err.message) }
      }); break
      default: this.frame({ type: f.type as 9 | 10, seq: f.seq, ack, id: f.id, room: f.room })
    }
  }
}

/**
 * The per-session reliability core, as Go's link: the send buffer holds
 * exactly the sequence numbers peerAck+1 .. nextSeq-1; frames below txNext
 * went out on the current connection; in datagram mode frames up to retxTo
 * are due again. recvAck is the highest sequence number up to which
 * everything arrived; newer frames wait in held.
 */
class Link {
  nextSeq = 1
  buf: OutFrame[] = []
  head = 0
  bufBytes = 0
  peerAck = 0
  txNext = 1
  retxTo = 0
  peerInflight = 0
  recvAck = 0
  held = new Map<number, InFrame>()
  heldBytes = 0
  ackDue = false
  ackAt = 0
  ackSend = false
  srtt = 0
  rttvar = 0
  haveRTT = false
  backoff = 0
  rtoAt = 0
  lastRecvAt = 0
  constructor (private readonly cfg: Cfg) {}

  unacked (): number { return this.buf.length - this.head }
  frame (seq: number): OutFrame { return this.buf[this.head + (seq - this.peerAck - 1)] as OutFrame }

  canPush (size: number): void {
    if (this.unacked() >= this.cfg.maxInflight ||
      (this.unacked() > 0 && this.bufBytes + size > this.cfg.maxUnackedBytes)) {
      throw new BetterSocketError('backpressure', 'session: send window full')
    }
  }

  push (f: OutFrame): void {
    f.seq = this.nextSeq++
    this.bufBytes += outSize(f)
    this.buf.push(f)
  }

  /** Applies the peer's cumulative ack; returns an error when it acknowledges what was never sent. */
  ack (a: number, now: number): BetterSocketError | null {
    if (a >= this.nextSeq) return protocolErr(`ack ${a} beyond last sent seq ${this.nextSeq - 1}`)
    if (a <= this.peerAck) return null
    if (a < this.txNext) {
      const last = this.frame(a)
      if (!last.retx) this.sample(now - last.sentAt)
    } else {
      this.txNext = a + 1
    }
    const n = a - this.peerAck
    for (let i = this.head; i < this.head + n; i++) this.bufBytes -= outSize(this.buf[i] as OutFrame)
    this.head += n
    this.peerAck = a
    if (this.head === this.buf.length) {
      this.buf = []
      this.head = 0
    } else if (this.head >= 64 && this.head * 2 >= this.buf.length) {
      this.buf = this.buf.slice(this.head)
      this.head = 0
    }
    this.backoff = 0
    this.rtoAt = 0
    if (this.cfg.mode === 'datagram' && this.txNext > this.peerAck + 1) this.rtoAt = now + this.rto()
    return null
  }

  sample (r: number): void {
    if (r < 0) r = 0
    if (!this.haveRTT) {
      this.srtt = r
      this.rttvar = Math.floor(r / 2)
      this.haveRTT = true
      return
    }
    const d = Math.abs(this.srtt - r)
    this.rttvar = Math.floor((3 * this.rttvar + d) / 4)
    this.srtt = Math.floor((7 * this.srtt + r) / 8)
  }

  rto (): number {
    let r = this.cfg.initialRto
    if (this.haveRTT) r = this.srtt + Math.max(MS, 4 * this.rttvar)
    r = Math.max(r, this.cfg.minRto)
    for (let i = 0; i < this.backoff && r < this.cfg.maxRto; i++) r *= 2
    return Math.min(r, this.cfg.maxRto)
  }

  holdAck (now: number): boolean {
    if (this.cfg.ackDelay <= 0 || this.ackSend) return false
    if (this.ackAt === 0) this.ackAt = now + this.cfg.ackDelay
    return now < this.ackAt
  }

  acked (): void { this.ackDue = false; this.ackAt = 0; this.ackSend = false }
  ackNow (): void { this.ackDue = true; this.ackSend = true }

  accept (seq: number): Accept {
    this.ackDue = true
    if (seq <= this.recvAck) return Accept.Dup
    if (seq === this.recvAck + 1) {
      this.recvAck = seq
      return Accept.Deliver
    }
    if (seq - this.recvAck > this.cfg.maxInflight || this.cfg.mode === 'stream') return Accept.Overflow
    if (this.held.has(seq)) return Accept.Dup
    return Accept.Hold
  }

  hold (f: InFrame): void {
    if (this.held.size > 0 && this.heldBytes + inSize(f) > this.cfg.maxUnackedBytes) return
    this.held.set(f.seq, f)
    this.heldBytes += inSize(f)
  }

  overflow (seq: number): BetterSocketError {
    if (this.cfg.mode === 'stream') return protocolErr(`seq ${seq} after ${this.recvAck}: a gap in a stream transport`)
    return protocolErr(`seq ${seq} beyond the window of ${this.cfg.maxInflight} after ${this.recvAck}`)
  }

  popHeld (): InFrame | undefined {
    const f = this.held.get(this.recvAck + 1)
    if (f !== undefined) {
      this.held.delete(f.seq)
      this.heldBytes -= inSize(f)
      this.recvAck = f.seq
    }
    return f
  }

  resume (peerAck: number, now: number): BetterSocketError | null {
    if (peerAck < this.peerAck) return protocolErr(`resume ack ${peerAck} below previously acknowledged ${this.peerAck}`)
    this.txNext = this.peerAck + 1
    const err = this.ack(peerAck, now)
    if (err !== null) return err
    this.txNext = this.peerAck + 1
    this.retxTo = 0
    this.rtoAt = 0
    this.backoff = 0
    return null
  }

  detach (): void {
    this.txNext = this.peerAck + 1
    this.retxTo = 0
    this.rtoAt = 0
    this.backoff = 0
    this.acked()
  }

  timeout (now: number): void {
    if (this.rtoAt === 0 || now < this.rtoAt) return
    this.rtoAt = 0
    if (this.txNext > this.peerAck + 1) {
      this.retxTo = this.txNext - 1
      this.backoff++
    }
  }

  peerBehind (now: number): void {
    if (this.cfg.mode !== 'datagram' || this.txNext <= this.peerAck + 1) return
    const grace = this.haveRTT ? this.srtt + this.rttvar : Math.floor(this.cfg.initialRto / 2)
    const cutoff = now - grace
    for (let s = this.txNext - 1; s > this.peerAck && s > this.retxTo; s--) {
      if (this.frame(s).sentAt <= cutoff) {
        this.retxTo = s
        break
      }
    }
  }

  deadline (): number {
    if (this.ackDue && !this.ackSend && this.ackAt !== 0 && (this.rtoAt === 0 || this.ackAt < this.rtoAt)) return this.ackAt
    return this.rtoAt
  }

  flush (w: Writer, now: number): void {
    let window = this.cfg.maxInflight
    if (this.peerInflight > 0) window = Math.min(window, this.peerInflight)
    const limit = this.peerAck + window
    let wrote = false
    for (let s = this.peerAck + 1; s <= this.retxTo && s < this.txNext; s++) {
      const f = this.frame(s)
      f.retx = true
      f.sentAt = now
      w.reliable(f, this.recvAck)
      wrote = true
    }
    this.retxTo = 0
    while (this.txNext < this.nextSeq && this.txNext <= limit) {
      const f = this.frame(this.txNext)
      if (f.sentAt !== 0) f.retx = true
      f.sentAt = now
      w.reliable(f, this.recvAck)
      this.txNext++
      wrote = true
    }
    if (wrote) {
      this.acked()
      if (this.cfg.mode === 'datagram' && this.rtoAt === 0) this.rtoAt = now + this.rto()
    }
  }

  lost (): LostFrame[] {
    const out: LostFrame[] = []
    for (let i = this.head; i < this.buf.length; i++) {
      const f = this.buf[i] as OutFrame
      out.push({ seq: f.seq, type: f.type, id: f.id, payload: f.payload, room: f.room, name: f.name })
    }
    return out
  }
}

/**
 * This side's pending requests with their deadlines (ties broken by the
 * order they started, as Go's timer queue), and the server's requests
 * waiting for a reply.
 */
class Requests {
  out = new Map<number, number>() // id -> tie
  private heap: Array<{ at: number, tie: number, id: number }> = []
  private ties = 0
  inbound = new Set<number>()
  constructor (private readonly max: number) {}

  start (id: number, deadline: number, peerMax: number): void {
    if (this.out.has(id)) throw new BetterSocketError('duplicate-request', 'session: duplicate request id')
    const limit = peerMax > 0 ? Math.min(this.max, peerMax) : this.max
    if (this.out.size >= limit) throw new BetterSocketError('too-many-requests', 'session: too many pending requests')
    const tie = ++this.ties
    this.out.set(id, tie)
    this.heapPush({ at: deadline, tie, id })
  }

  finish (id: number): boolean {
    if (!this.out.delete(id)) return false
    // Stale heap entries are dropped lazily, and all at once when they
    // outnumber the live ones.
    if (this.heap.length > 2 * this.out.size + 64) {
      const live = this.heap.filter(e => this.out.get(e.id) === e.tie)
      this.heap = []
      for (const e of live) this.heapPush(e)
    }
    return true
  }

  private top (): { at: number, tie: number, id: number } | undefined {
    for (;;) {
      const e = this.heap[0]
      if (e === undefined || this.out.get(e.id) === e.tie) return e
      this.heapPop()
    }
  }

  due (now: number): number | undefined {
    const e = this.top()
    if (e === undefined || e.at > now) return undefined
    this.heapPop()
    this.out.delete(e.id)
    return e.id
  }

  deadline (): number { return this.top()?.at ?? 0 }

  pending (): number[] { return [...this.out.keys()].sort((a, b) => a - b) }

  received (id: number): BetterSocketError | null {
    if (this.inbound.has(id)) return protocolErr(`request id ${id} already pending`)
    if (this.inbound.size >= this.max) return new BetterSocketError('too-many-requests', 'session: too many pending requests')
    this.inbound.add(id)
    return null
  }

  private less (i: number, j: number): boolean {
    const a = this.heap[i] as { at: number, tie: number }
    const b = this.heap[j] as { at: number, tie: number }
    return a.at !== b.at ? a.at < b.at : a.tie < b.tie
  }

  private swap (i: number, j: number): void {
    const t = this.heap[i] as { at: number, tie: number, id: number }
    this.heap[i] = this.heap[j] as { at: number, tie: number, id: number }
    this.heap[j] = t
  }

  private heapPush (e: { at: number, tie: number, id: number }): void {
    this.heap.push(e)
    let i = this.heap.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(i, p)) break
      this.swap(i, p)
      i = p
    }
  }

  private heapPop (): void {
    const last = this.heap.pop()
    if (this.heap.length === 0 || last === undefined) return
    this.heap[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < this.heap.length && this.less(l, m)) m = l
      if (r < this.heap.length && this.less(r, m)) m = r
      if (m === i) break
      this.swap(i, m)
      i = m
    }
  }
}

const enum State { Idle, Handshake, Open, Closed }

const NO_ID = new Uint8Array(16)

/**
 * The client machine. Step inputs with step(now, input), then drain
 * ready(). step throws a [BetterSocketError] only about the caller's own
 * command (backpressure, closed, too large, ...); anything the server does
 * wrong ends in a CLOSE and a closed event instead.
 */
export class ClientMachine {
  private readonly cfg: Cfg
  private state = State.Idle
  private now = 0
  private base = 0
  private link: Link
  private reqs: Requests

  private id: Uint8Array = NO_ID
  private token: Uint8Array | null = null
  private have = false

  private conn = 0
  private peer: Limits = { maxMessageSize: 0, maxInflight: 0, maxRequests: 0 }
  private hbInterval = 0
  private idleTimeout = 0
  private hbAt = 0
  private hbDue = false
  private shakeAt = 0
  private helloAt = 0
  private helloTries = 0
  private sendHello = false
  private sendClose: Close | null = null
  private hangup = false
  private attempt = 0
  private connects = 0

  private closing = false
  private closeAt = 0
  private closeReason = ''

  private events: MachineEvent[] = []
  private out: Uint8Array[] = []
  private readonly w: Writer

  constructor (config: MachineConfig = {}) {
    this.cfg = normalize(config)
    this.link = new Link(this.cfg)
    this.reqs = new Requests(this.cfg.maxRequests)
    this.w = new Writer(msg => this.out.push(msg))
  }

  /** The current session's client ID (16 zero bytes before the first WELCOME). */
  clientId (): Uint8Array { return this.id }

  /** Whether the handshake is complete on a live connection. */
  established (): boolean { return this.state === State.Open }

  /** Whether the machine has ended (its last event was closed). */
  ended (): boolean { return this.state === State.Closed }

  /** The largest transport message the server accepts (0 before the first WELCOME). */
  peerMaxMessageSize (): number { return this.have ? this.peerMax() : 0 }

  /** Whether a frame with this many payload bytes fits the send window now. */
  canSend (size: number): boolean {
    try {
      this.link.canPush(size)
      return true
    } catch {
      return false
    }
  }

  /** Unacknowledged reliable frames. */
  unacked (): number { return this.link.unacked() }

  private peerMax (): number {
    return this.peer.maxMessageSize > 0 ? this.peer.maxMessageSize : this.cfg.maxMessageSize
  }

  /** Consumes one input at time nowMs (the driver's clock, in milliseconds). */
  step (nowMs: number, input: MachineInput): void {
    const now = this.clock(nowMs)
    switch (input.type) {
      case 'connected': return this.connected(now, input.conn)
      case 'recv':
        if ((this.state === State.Handshake || this.state === State.Open) && input.conn === this.conn) this.recv(now, input.data)
        return
      case 'disconnected': return this.disconnected(now, input.conn, input.err)
      case 'timeout': return this.timeout(now)
      case 'send': {
        const name = input.name ?? ''
        checkName(name)
        return this.push(this.outFrame(FrameType.Data, 0, input.payload, '', name, null))
      }
      case 'call': {
        const name = input.name ?? ''
        checkName(name)
        return this.call(now, this.outFrame(FrameType.Request, input.id, input.payload, '', name, null), input.timeoutMs)
      }
      case 'publish': {
        const name = input.name ?? ''
        checkRoom(input.room)
        checkName(name)
        return this.call(now, this.outFrame(FrameType.Publish, input.id, input.payload, input.room, name, null), input.timeoutMs)
      }
      case 'join': case 'leave':
        checkRoom(input.room)
        return this.call(now, this.outFrame(input.type === 'join' ? FrameType.Join : FrameType.Leave, input.id, null, input.room, '', null), input.timeoutMs)
      case 'reply': {
        if (this.state === State.Closed || this.closing) throw closedErr()
        if (!this.reqs.inbound.has(input.id)) throw new BetterSocketError('unknown-request', 'session: unknown request')
        const e = input.error ?? null
        this.push(this.outFrame(FrameType.Response, input.id, e !== null ? null : input.payload, '', '', e))
        this.reqs.inbound.delete(input.id)
        return
      }
      case 'close': return this.close(now, input.reason)
      case 'abort':
        if (this.state === State.Closed) throw closedErr()
        this.finish(now, { type: 8, code: CloseCode.Normal, reason: input.reason }, null)
    }
  }

  private outFrame (type: number, id: number, payload: Uint8Array | null, room: string, name: string, err: WireError | null): OutFrame {
    const textLen = (room === '' ? 0 : utf8len(room)) + (name === '' ? 0 : utf8len(name))
    return { seq: 0, type, id, payload, room, name, textLen, err, sentAt: 0, retx: false }
  }

  // Internally times are nanoseconds plus one, so that 0 means "not set"
  // as Go's zero time.Time does.
  private clock (nowMs: number): number {
    let now = Math.round(Math.max(0, nowMs) * MS) + 1
    if (this.base === 0) this.base = now
    if (now < this.now) now = this.now
    this.now = now
    return now
  }

  private maxPayload (): number {
    return (this.peer.maxMessageSize > 0 ? this.peer.maxMessageSize : this.cfg.maxMessageSize) - FRAME_OVERHEAD
  }

  private push (f: OutFrame): void {
    if (this.state === State.Closed || this.closing) throw closedErr()
    this.checkSize(f)
    this.link.canPush(outSize(f))
    this.link.push(f)
  }

  private checkSize (f: OutFrame): void {
    const size = outSize(f)
    if (size > this.maxPayload()) throw new BetterSocketError('too-large', `session: payload too large: ${size} bytes, limit ${this.maxPayload()}`)
  }

  private call (now: number, f: OutFrame, timeoutMs: number | undefined): void {
    if (this.state === State.Closed || this.closing) throw closedErr()
    const timeout = timeoutMs !== undefined && timeoutMs > 0 ? Math.round(timeoutMs * MS) : this.cfg.requestTimeout
    this.checkSize(f)
    this.link.canPush(outSize(f))
    this.reqs.start(f.id, now + timeout, this.peer.maxRequests)
    this.link.push(f)
  }

  private connected (now: number, conn: number): void {
    if (this.state === State.Closed) throw closedErr()
    if (this.state !== State.Idle) throw new BetterSocketError('invalid', 'session: invalid command: Connected while a connection is live')
    this.connects++
    this.state = State.Handshake
    this.conn = conn
    this.hangup = false
    this.sendHello = true
    this.shakeAt = now + this.cfg.handshakeTimeout
    this.helloTries = 0
    this.helloAt = now + this.cfg.initialRto
    this.link.lastRecvAt = now
  }

  private hello (): Hello {
    return {
      type: 1,
      version: VERSION,
      resume: this.have ? { id: this.id, token: this.token, ack: this.link.recvAck, attempt: this.connects } : null,
      auth: this.cfg.auth,
      limits: { maxMessageSize: this.cfg.maxMessageSize, maxInflight: this.cfg.maxInflight, maxRequests: this.cfg.maxRequests }
    }
  }

  private live (): boolean { return this.state === State.Handshake || this.state === State.Open }

  private recv (now: number, data: Uint8Array): void {
    this.link.lastRecvAt = now
    try {
      checkMessage(data, this.cfg.maxMessageSize)
      for (const f of frames(data)) {
        this.frame(now, f)
        if (!this.live()) break
      }
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err
      const code = err.kind === 'too-large' ? CloseCode.TooLarge : CloseCode.ProtocolError
      this.violation(now, code, protocolErr(err.message))
      return
    }
    if (this.closing && this.state === State.Open && this.link.unacked() === 0 && this.reqs.out.size === 0) {
      this.finish(now, { type: 8, code: CloseCode.Normal, reason: this.closeReason }, null)
    }
  }

  private violation (now: number, code: number, err: Error): void {
    const reason = wireText(err.message)
    this.finish(now, { type: 8, code, reason }, new CloseError(code, reason, false))
  }

  private frame (now: number, f: Frame): void {
    if (this.state === State.Handshake) {
      if (f.type === FrameType.Welcome) this.welcome(now, f)
      else if (f.type === FrameType.Close) this.peerClosed(now, f)
      else if (this.cfg.mode === 'stream') this.violation(now, CloseCode.ProtocolError, protocolErr(`${typeName(f.type)} before WELCOME`))
      return
    }
    switch (f.type) {
      case FrameType.Ack:
        this.ack(now, f.ack)
        return
      case FrameType.Heartbeat:
        if (!this.ack(now, f.ack)) return
        if (f.echo > 0) {
          const sent = this.base + f.echo * US
          if (sent <= now && now - sent < HOUR) this.link.sample(now - sent)
        }
        this.link.peerBehind(now)
        return
      case FrameType.Data:
        if (this.ack(now, f.ack)) this.reliable(now, { seq: f.seq, type: 5, id: 0, payload: f.payload, room: f.room, name: f.name, err: null })
        return
      case FrameType.Request:
        if (this.ack(now, f.ack)) this.reliable(now, { seq: f.seq, type: 6, id: f.id, payload: f.payload, room: '', name: f.name, err: null })
        return
      case FrameType.Response:
        if (this.ack(now, f.ack)) this.reliable(now, { seq: f.seq, type: 7, id: f.id, payload: f.payload, room: '', name: '', err: f.error })
        return
      case FrameType.Close:
        this.peerClosed(now, f)
        return
      case FrameType.Welcome:
        if (this.cfg.mode === 'datagram' && equalBytes(f.id, this.id)) return
        this.violation(now, CloseCode.ProtocolError, protocolErr('WELCOME on an established connection'))
        return
      default:
        this.violation(now, CloseCode.ProtocolError, protocolErr(`${typeName(f.type)} is not sent by servers`))
    }
  }

  private ack (now: number, a: number): boolean {
    const err = this.link.ack(a, now)
    if (err !== null) {
      this.violation(now, CloseCode.ProtocolError, err)
      return false
    }
    return true
  }

  private reliable (now: number, f: InFrame): void {
    switch (this.link.accept(f.seq)) {
      case Accept.Deliver: {
        this.deliver(now, f)
        while (this.state === State.Open) {
          const next = this.link.popHeld()
          if (next === undefined) break
          this.deliver(now, next)
        }
        return
      }
      case Accept.Hold: this.link.hold(f); return
      case Accept.Overflow: this.violation(now, CloseCode.ProtocolError, this.link.overflow(f.seq))
    }
  }

  private deliver (now: number, f: InFrame): void {
    const id = this.id
    switch (f.type) {
      case FrameType.Data:
        this.events.push({ type: 'delivered', client: id, seq: f.seq, payload: f.payload, room: f.room, name: f.name })
        return
      case FrameType.Request: {
        const err = this.reqs.received(f.id)
        if (err !== null) {
          this.violation(now, err.code === 'too-many-requests' ? CloseCode.Policy : CloseCode.ProtocolError, err)
          return
        }
        this.events.push({ type: 'request', client: id, id: f.id, payload: f.payload, name: f.name })
        return
      }
      case FrameType.Response:
        if (!this.reqs.finish(f.id)) return // a late response: its request already has its outcome
        this.events.push(f.err !== null
          ? { type: 'response', client: id, id: f.id, payload: null, err: new RemoteError(f.err.code, f.err.message) }
          : { type: 'response', client: id, id: f.id, payload: f.payload, err: null })
    }
  }

  private welcome (now: number, w: Welcome): void {
    if (w.version !== VERSION) {
      this.violation(now, CloseCode.UnsupportedVersion, protocolErr(`server speaks version ${w.version}`))
      return
    }
    if (this.have && w.resumed) {
      if (!equalBytes(w.id, this.id)) {
        this.violation(now, CloseCode.ProtocolError, protocolErr(`resumed a different session ${uuid(w.id)}`))
        return
      }
      const err = this.link.resume(w.ack, now)
      if (err !== null) {
        this.violation(now, CloseCode.ProtocolError, err)
        return
      }
      this.events.push({ type: 'resumed', client: this.id })
    } else {
      if (this.have) {
        if (this.closing) {
          this.finish(now, { type: 8, code: CloseCode.Normal, reason: this.closeReason }, resumeRefused())
          return
        }
        this.loseSession(resumeRefused())
      }
      if (w.resumed) {
        this.violation(now, CloseCode.ProtocolError, protocolErr('WELCOME resumed a session that was not asked for'))
        return
      }
      if (w.ack !== 0) {
        this.violation(now, CloseCode.ProtocolError, protocolErr(`WELCOME of a new session acknowledges ${w.ack}`))
        return
      }
      this.id = w.id
      this.have = true
      this.events.push({ type: 'session-started', client: this.id })
    }
    this.token = w.token === null ? null : w.token.slice()
    this.peer = w.limits
    this.link.peerInflight = w.limits.maxInflight
    this.hbInterval = w.heartbeatMs * MS
    this.idleTimeout = w.idleTimeoutMs * MS
    this.hbAt = now + this.hbInterval
    this.link.lastRecvAt = now
    this.state = State.Open
    this.sendHello = false
    this.attempt = 0
    this.link.ackNow()
  }

  private lose (): Lost {
    const lost: Lost = { unacked: this.link.lost(), requests: this.reqs.pending(), lastReceived: this.link.recvAck }
    for (const rid of lost.requests) {
      this.reqs.finish(rid)
      this.events.push({ type: 'response', client: this.id, id: rid, payload: null, err: new BetterSocketError('session-lost', 'session: session lost') })
    }
    return lost
  }

  private loseSession (cause: Error): void {
    const lost = this.lose()
    this.events.push({ type: 'session-lost', client: this.id, err: cause, lost })
    this.have = false
    this.id = NO_ID
    this.token = null
    this.link = new Link(this.cfg)
    this.reqs = new Requests(this.cfg.maxRequests)
  }

  private peerClosed (now: number, f: Close): void {
    const err = new CloseError(f.code, f.reason, true)
    if (resumable(f.code)) {
      this.hangup = true
      this.transportLost(now, err)
      return
    }
    this.finish(now, null, err)
  }

  private transportLost (now: number, err: unknown): void {
    this.state = State.Idle
    this.sendHello = false
    this.hbDue = false
    this.sendClose = null
    this.link.detach()
    this.events.push({ type: 'connection-lost', err })
    this.scheduleDial(now)
  }

  private scheduleDial (now: number): void {
    this.attempt++
    let ceiling = this.cfg.reconnectMin
    for (let i = 1; i < this.attempt && ceiling < this.cfg.reconnectMax; i++) ceiling *= 2
    ceiling = Math.min(ceiling, this.cfg.reconnectMax)
    const b = this.cfg.random(8)
    let r = 0n
    for (let i = 7; i >= 0; i--) r = (r << 8n) | BigInt(b[i] as number) // little-endian, as Go
    let delay = Number(r % BigInt(ceiling))
    if (this.closing && this.attempt === 1) delay = 0
    this.events.push({ type: 'dial', at: toMs(now + delay), attempt: this.attempt })
  }

  private disconnected (now: number, conn: number, err: unknown): void {
    if (this.state === State.Closed) return
    if (this.state === State.Idle) {
      if (conn === 0) this.scheduleDial(now)
      return
    }
    if (conn !== this.conn) return
    this.transportLost(now, err ?? null)
  }

  private timeout (now: number): void {
    if (this.state === State.Closed) return
    for (;;) {
      const rid = this.reqs.due(now)
      if (rid === undefined) break
      this.events.push({ type: 'response', client: this.id, id: rid, payload: null, err: new BetterSocketError('request-timeout', 'session: request timed out') })
    }
    if (this.closing && now >= this.closeAt) {
      this.finish(now, { type: 8, code: CloseCode.Normal, reason: this.closeReason }, null)
      return
    }
    if (this.state === State.Handshake) {
      if (now >= this.shakeAt) {
        this.hangup = true
        this.transportLost(now, new BetterSocketError('handshake-timeout', 'session: handshake timeout'))
        return
      }
      if (this.cfg.mode === 'datagram' && now >= this.helloAt) {
        this.sendHello = true
        this.helloTries++
        this.helloAt = now + Math.min(this.cfg.initialRto * 2 ** Math.min(this.helloTries, 16), this.cfg.maxRto)
      }
    } else if (this.state === State.Open) {
      if (now >= this.link.lastRecvAt + this.idleTimeout) {
        this.hangup = true
        this.transportLost(now, new BetterSocketError('idle-timeout', 'session: idle timeout'))
        return
      }
      this.link.timeout(now)
      if (now >= this.hbAt) {
        this.hbDue = true
        this.hbAt += this.hbInterval
        if (this.hbAt <= now) this.hbAt = now + this.hbInterval
      }
    }
  }

  private close (now: number, why: string): void {
    if (this.state === State.Closed || this.closing) throw closedErr()
    const pending = this.link.unacked() > 0 || this.reqs.out.size > 0
    if (pending && (this.state === State.Open || this.have)) {
      this.closing = true
      this.closeReason = why
      this.closeAt = now + this.cfg.closeTimeout
      if (this.state === State.Idle) this.events.push({ type: 'dial', at: toMs(now), attempt: this.attempt })
      return
    }
    this.finish(now, { type: 8, code: CloseCode.Normal, reason: why }, null)
  }

  private finish (_now: number, send: Close | null, err: unknown): void {
    if (this.live()) {
      this.sendClose = send
      this.hangup = true
    }
    const lost = this.lose()
    this.state = State.Closed
    this.closing = false
    this.events.push({ type: 'closed', client: this.id, err, lost })
  }

  /** Drains what the machine wants done. Call it after each step (or after a batch of steps). */
  ready (): Ready {
    const live = this.live() || this.sendClose !== null
    if (live && !(this.hangup && this.sendClose === null)) {
      const w = this.w
      w.begin(this.peerMax())
      if (this.sendHello) {
        w.frame(this.hello())
        this.sendHello = false
      }
      if (this.state === State.Open) {
        this.link.flush(w, this.now)
        if (this.hbDue) {
          w.frame({ type: 4, ack: this.link.recvAck, echo: Math.floor((this.now - this.base) / US) })
          this.hbDue = false
          this.link.acked()
        }
        if (this.link.ackDue && !this.link.holdAck(this.now)) {
          w.frame({ type: 3, ack: this.link.recvAck })
          this.link.acked()
        }
      }
      if (this.sendClose !== null) {
        w.frame(this.sendClose)
        this.sendClose = null
      }
      w.end()
    }
    const deadline = this.deadline()
    const rd: Ready = { transmit: this.out, hangup: this.hangup, events: this.events, deadline: deadline === 0 ? null : toMs(deadline) }
    this.out = []
    this.events = []
    this.hangup = false
    return rd
  }

  private deadline (): number {
    let d = 0
    const earliest = (t: number): void => {
      if (t !== 0 && (d === 0 || t < d)) d = t
    }
    earliest(this.reqs.deadline())
    if (this.state === State.Handshake) {
      earliest(this.shakeAt)
      if (this.cfg.mode === 'datagram') earliest(this.helloAt)
    } else if (this.state === State.Open) {
      earliest(this.hbAt)
      earliest(this.link.lastRecvAt + this.idleTimeout)
      earliest(this.link.deadline())
    }
    if (this.closing) earliest(this.closeAt)
    return d
  }
}

function toMs (t: number): number { return (t - 1) / MS }

function closedErr (): BetterSocketError { return new BetterSocketError('closed', 'session: closed') }
function resumeRefused (): BetterSocketError { return new BetterSocketError('resume-refused', 'session: resume refused') }

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Formats a 16-byte client ID in the canonical UUID form. */
export function uuid (id: Uint8Array): string {
  let h = ''
  for (const x of id) h += x.toString(16).padStart(2, '0')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

