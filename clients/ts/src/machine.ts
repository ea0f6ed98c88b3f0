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
  checkMessage, frames, decodeFrame, encodeFrameInto, resumable,
  type Close, type Data, type Frame, type Hello, type Join, type Leave, type Limits, type Publish, type Request, type Response, type Welcome, type WireError
} from './wire.js'
import { BetterSocketError, CloseError, RemoteError } from './errors.js'
import { encoder, utf8len, validText } from './text.js'
import type { SecureConfig, SecureLayer, SecureError } from './secure.js'

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
  /**
   * Encryption (secure() of @bettersocket/client/secure): every connection
   * starts with a Noise handshake, and HELLO, WELCOME and everything after
   * them travel sealed. Default none (plaintext).
   */
  secure?: SecureConfig | null
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
 * members with full send windows were skipped). setAuth replaces the
 * credentials (MachineConfig.auth) sent in the next HELLO and every later
 * one, so that a driver can refresh an expiring token before it steps
 * connected (Go's session.SetAuth).
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
  | { type: 'setAuth', auth: Uint8Array | null }

/** What the machine asks its driver to do. */
export interface Ready {
  /**
   * Transport messages to write, in order, on the current connection.
   * Each is a view of a buffer shared with other messages: write the view
   * itself (its byteOffset and byteLength), never its .buffer, and do not
   * modify it. The machine never writes into a message it handed out.
   */
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


function protocolErr (msg: string): BetterSocketError {
  return new BetterSocketError('protocol', 'session: protocol violation: ' + msg)
}

// A frame type as Go's proto.FrameType.String names it: HELLO, WELCOME, ...
function typeName (t: number): string {
  return Object.keys(FrameType)[t - 1]?.toUpperCase() ?? `FrameType(${t})`
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

function checkRoom (room: string): void {
  if (room === '' || !validText(room, MAX_ROOM_LEN)) throw new BetterSocketError('invalid', `session: invalid command: room name must be 1..${MAX_ROOM_LEN} bytes of UTF-8`)
}

function checkName (name: string): void {
  if (name !== '' && !validText(name, MAX_NAME_LEN)) throw new BetterSocketError('invalid', `session: invalid command: a message or method name must be at most ${MAX_NAME_LEN} bytes of UTF-8`)
}

/** A reliable frame of this side, in the send buffer. */
interface OutFrame {
  _f: Data | Request | Response | Publish | Join | Leave // its seq set when queued, its ack each time it is written
  _size: number // payload and text bytes, as Go's outFrame.size
  _sentAt: number // 0: never sent
  _retx: boolean
}

function outFrame (f: OutFrame['_f'], payload: Uint8Array | null, ...text: string[]): OutFrame {
  let size = payload?.length ?? 0
  for (const t of text) if (t !== '') size += utf8len(t)
  return { _f: f, _size: size, _sentAt: 0, _retx: false }
}

/** A received reliable frame, held for in-order delivery. */
type InFrame = Data | Request | Response

// As Go's inFrame.size: payload, room and name (a response's error text is not counted).
function inSize (f: InFrame): number {
  let n = f.payload?.length ?? 0
  if (f.type !== FrameType.Response) n += utf8len(f.name)
  if (f.type === FrameType.Data) n += utf8len(f.room)
  return n
}

interface Cfg {
  _mode: Mode
  _maxInflight: number
  _maxUnackedBytes: number
  _maxMessageSize: number
  _maxRequests: number
  _requestTimeout: number
  _initialRto: number
  _minRto: number
  _maxRto: number
  _ackDelay: number
  _auth: Uint8Array | null // replaced by setAuth
  _handshakeTimeout: number
  _closeTimeout: number
  _reconnectMin: number
  _reconnectMax: number
  _random: (n: number) => Uint8Array
  _secure: SecureConfig | null
}

function defaultRandom (n: number): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(n))
}

function normalize (c: MachineConfig): Cfg {
  const pos = (v: number | undefined, d: number): number => (v !== undefined && v > 0 ? v : d)
  const ns = (v: number | undefined, dMs: number): number => Math.round(pos(v, dMs) * MS)
  const cfg: Cfg = {
    _mode: c.mode ?? 'stream',
    _maxInflight: pos(c.maxInflight, 1024),
    _maxUnackedBytes: pos(c.maxUnackedBytes, 4 << 20),
    _maxMessageSize: Math.max(pos(c.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE), 256),
    _maxRequests: pos(c.maxRequests, 1024),
    _requestTimeout: ns(c.requestTimeoutMs, 30e3),
    _initialRto: ns(c.initialRtoMs, 1e3),
    _minRto: ns(c.minRtoMs, 200),
    _maxRto: ns(c.maxRtoMs, 60e3),
    _ackDelay: ns(c.ackDelayMs, 0),
    _auth: c.auth ?? null,
    _handshakeTimeout: ns(c.handshakeTimeoutMs, 10e3),
    _closeTimeout: ns(c.closeTimeoutMs, 5e3),
    _reconnectMin: ns(c.reconnectMinMs, 250),
    _reconnectMax: ns(c.reconnectMaxMs, 30e3),
    _random: c.random ?? defaultRandom,
    _secure: c.secure ?? null
  }
  if (cfg._reconnectMax < cfg._reconnectMin) cfg._reconnectMax = cfg._reconnectMin
  return cfg
}

const enum Accept { Deliver, Dup, Hold, Overflow }

const SLAB = 16 << 10

/** Packs frames into transport messages within the peer's size limit. */
class Writer {
  // The frames of one transport message are encoded one after the other
  // into a slab, and the message is a view of its part of the slab: no
  // copy per frame, no concatenation, no allocation of its own. A slab is
  // only ever written past the messages already emitted (which stay
  // valid, whoever holds them); when one is full, the message under way
  // moves to a new slab.
  private _buf = new Uint8Array(SLAB)
  private _start = 0 // where the message under way starts in _buf
  private _pos = 0
  private _max = 0
  private readonly _emit: (msg: Uint8Array) => void
  constructor (emit: (msg: Uint8Array) => void) { this._emit = emit }
  _begin (max: number): void { this._max = max }
  _frame (f: Frame): void {
    if (f.type === FrameType.Close) f = { type: 8, code: f.code, reason: wireText(f.reason) }
    let n: number
    while ((n = encodeFrameInto(f, this._buf.subarray(this._pos))) < 0) {
      const b = new Uint8Array(Math.max(SLAB, 2 * (this._buf.length - this._start)))
      b.set(this._buf.subarray(this._start, this._pos))
      this._pos -= this._start
      this._start = 0
      this._buf = b
    }
    // Over the peer's limit: what came before is one message, this frame starts the next.
    if (this._pos + n - this._start > this._max && this._pos > this._start) this._cut()
    this._pos += n
  }
  _end (): void { if (this._pos > this._start) this._cut() }
  private _cut (): void {
    this._emit(this._buf.subarray(this._start, this._pos))
    this._start = this._pos
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
  _nextSeq = 1
  _buf: OutFrame[] = []
  _head = 0
  _bufBytes = 0
  _peerAck = 0
  _txNext = 1
  _retxTo = 0
  _peerInflight = 0
  _recvAck = 0
  _held = new Map<number, InFrame>()
  _heldBytes = 0
  _ackDue = false
  _ackAt = 0
  _ackSend = false
  _srtt = 0
  _rttvar = 0
  _haveRTT = false
  _backoff = 0
  _rtoAt = 0
  _lastRecvAt = 0
  private readonly _cfg: Cfg
  constructor (cfg: Cfg) { this._cfg = cfg }

  _unacked (): number { return this._buf.length - this._head }
  _frame (seq: number): OutFrame { return this._buf[this._head + (seq - this._peerAck - 1)] as OutFrame }

  _canPush (size: number): void {
    if (this._unacked() >= this._cfg._maxInflight ||
      (this._unacked() > 0 && this._bufBytes + size > this._cfg._maxUnackedBytes)) {
      throw new BetterSocketError('backpressure', 'session: send window full')
    }
  }

  _push (f: OutFrame): void {
    f._f.seq = this._nextSeq++
    this._bufBytes += f._size
    this._buf.push(f)
  }

  /** Applies the peer's cumulative ack; returns an error when it acknowledges what was never sent. */
  _ack (a: number, now: number): BetterSocketError | null {
    if (a >= this._nextSeq) return protocolErr(`ack ${a} beyond last sent seq ${this._nextSeq - 1}`)
    if (a <= this._peerAck) return null
    if (a < this._txNext) {
      const last = this._frame(a)
      if (!last._retx) this._sample(now - last._sentAt)
    } else {
      this._txNext = a + 1
    }
    const n = a - this._peerAck
    for (let i = this._head; i < this._head + n; i++) this._bufBytes -= (this._buf[i] as OutFrame)._size
    this._head += n
    this._peerAck = a
    if (this._head === this._buf.length) {
      this._buf = []
      this._head = 0
    } else if (this._head >= 64 && this._head * 2 >= this._buf.length) {
      this._buf = this._buf.slice(this._head)
      this._head = 0
    }
    this._backoff = 0
    this._rtoAt = 0
    if (this._cfg._mode === 'datagram' && this._txNext > this._peerAck + 1) this._rtoAt = now + this._rto()
    return null
  }

  _sample (r: number): void {
    if (r < 0) r = 0
    if (!this._haveRTT) {
      this._srtt = r
      this._rttvar = Math.floor(r / 2)
      this._haveRTT = true
      return
    }
    const d = Math.abs(this._srtt - r)
    this._rttvar = Math.floor((3 * this._rttvar + d) / 4)
    this._srtt = Math.floor((7 * this._srtt + r) / 8)
  }

  _rto (): number {
    let r = this._cfg._initialRto
    if (this._haveRTT) r = this._srtt + Math.max(MS, 4 * this._rttvar)
    r = Math.max(r, this._cfg._minRto)
    for (let i = 0; i < this._backoff && r < this._cfg._maxRto; i++) r *= 2
    return Math.min(r, this._cfg._maxRto)
  }

  _holdAck (now: number): boolean {
    if (this._cfg._ackDelay <= 0 || this._ackSend) return false
    if (this._ackAt === 0) this._ackAt = now + this._cfg._ackDelay
    return now < this._ackAt
  }

  _acked (): void { this._ackDue = false; this._ackAt = 0; this._ackSend = false }
  _ackNow (): void { this._ackDue = true; this._ackSend = true }

  _accept (seq: number): Accept {
    this._ackDue = true
    if (seq <= this._recvAck) return Accept.Dup
    if (seq === this._recvAck + 1) {
      this._recvAck = seq
      return Accept.Deliver
    }
    if (seq - this._recvAck > this._cfg._maxInflight || this._cfg._mode === 'stream') return Accept.Overflow
    if (this._held.has(seq)) return Accept.Dup
    return Accept.Hold
  }

  _hold (f: InFrame): void {
    if (this._held.size > 0 && this._heldBytes + inSize(f) > this._cfg._maxUnackedBytes) return
    this._held.set(f.seq, f)
    this._heldBytes += inSize(f)
  }

  _overflow (seq: number): BetterSocketError {
    if (this._cfg._mode === 'stream') return protocolErr(`seq ${seq} after ${this._recvAck}: a gap in a stream transport`)
    return protocolErr(`seq ${seq} beyond the window of ${this._cfg._maxInflight} after ${this._recvAck}`)
  }

  _popHeld (): InFrame | undefined {
    const f = this._held.get(this._recvAck + 1)
    if (f !== undefined) {
      this._held.delete(f.seq)
      this._heldBytes -= inSize(f)
      this._recvAck = f.seq
    }
    return f
  }

  _resume (peerAck: number, now: number): BetterSocketError | null {
    if (peerAck < this._peerAck) return protocolErr(`resume ack ${peerAck} below previously acknowledged ${this._peerAck}`)
    this._txNext = this._peerAck + 1
    const err = this._ack(peerAck, now)
    if (err !== null) return err
    this._txNext = this._peerAck + 1
    this._retxTo = 0
    this._rtoAt = 0
    this._backoff = 0
    return null
  }

  _detach (): void {
    this._txNext = this._peerAck + 1
    this._retxTo = 0
    this._rtoAt = 0
    this._backoff = 0
    this._acked()
  }

  _timeout (now: number): void {
    if (this._rtoAt === 0 || now < this._rtoAt) return
    this._rtoAt = 0
    if (this._txNext > this._peerAck + 1) {
      this._retxTo = this._txNext - 1
      this._backoff++
    }
  }

  _peerBehind (now: number): void {
    if (this._cfg._mode !== 'datagram' || this._txNext <= this._peerAck + 1) return
    const grace = this._haveRTT ? this._srtt + this._rttvar : Math.floor(this._cfg._initialRto / 2)
    const cutoff = now - grace
    for (let s = this._txNext - 1; s > this._peerAck && s > this._retxTo; s--) {
      if (this._frame(s)._sentAt <= cutoff) {
        this._retxTo = s
        break
      }
    }
  }

  _deadline (): number {
    if (this._ackDue && !this._ackSend && this._ackAt !== 0 && (this._rtoAt === 0 || this._ackAt < this._rtoAt)) return this._ackAt
    return this._rtoAt
  }

  _flush (w: Writer, now: number): void {
    let window = this._cfg._maxInflight
    if (this._peerInflight > 0) window = Math.min(window, this._peerInflight)
    const limit = this._peerAck + window
    let wrote = false
    for (let s = this._peerAck + 1; s <= this._retxTo && s < this._txNext; s++) {
      const f = this._frame(s)
      f._retx = true
      f._sentAt = now
      f._f.ack = this._recvAck
      w._frame(f._f)
      wrote = true
    }
    this._retxTo = 0
    while (this._txNext < this._nextSeq && this._txNext <= limit) {
      const f = this._frame(this._txNext)
      if (f._sentAt !== 0) f._retx = true
      f._sentAt = now
      f._f.ack = this._recvAck
      w._frame(f._f)
      this._txNext++
      wrote = true
    }
    if (wrote) {
      this._acked()
      if (this._cfg._mode === 'datagram' && this._rtoAt === 0) this._rtoAt = now + this._rto()
    }
  }

  _lost (): LostFrame[] {
    const out: LostFrame[] = []
    for (let i = this._head; i < this._buf.length; i++) {
      const f = (this._buf[i] as OutFrame)._f
      out.push({
        seq: f.seq,
        type: f.type,
        id: 'id' in f ? f.id : 0,
        payload: 'payload' in f ? f.payload : null,
        room: 'room' in f ? f.room : '',
        name: 'name' in f ? f.name : ''
      })
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
  _out = new Map<number, number>() // id -> tie
  // Deadlines in order, ties in start order. A request that ended leaves
  // its entry behind (stale: its tie is no longer the id's) until it
  // reaches the front, or until stale entries outnumber live ones.
  private _q: Array<{ at: number, tie: number, id: number }> = []
  private _ties = 0
  _inbound = new Set<number>()
  private readonly _max: number
  constructor (max: number) { this._max = max }

  _start (id: number, deadline: number, peerMax: number): void {
    if (this._out.has(id)) throw new BetterSocketError('duplicate-request', 'session: duplicate request id')
    const limit = peerMax > 0 ? Math.min(this._max, peerMax) : this._max
    if (this._out.size >= limit) throw new BetterSocketError('too-many-requests', 'session: too many pending requests')
    const tie = ++this._ties
    this._out.set(id, tie)
    // Deadlines mostly arrive in order (one default timeout): look from
    // the end. An equal deadline goes after, as its tie is the newest.
    const q = this._q
    let i = q.length
    while (i > 0 && (q[i - 1] as { at: number }).at > deadline) i--
    q.splice(i, 0, { at: deadline, tie, id })
  }

  _finish (id: number): boolean {
    if (!this._out.delete(id)) return false
    if (this._q.length > 2 * this._out.size + 64) this._q = this._q.filter(e => this._out.get(e.id) === e.tie)
    return true
  }

  private _top (): { at: number, tie: number, id: number } | undefined {
    for (;;) {
      const e = this._q[0]
      if (e === undefined || this._out.get(e.id) === e.tie) return e
      this._q.shift()
    }
  }

  _due (now: number): number | undefined {
    const e = this._top()
    if (e === undefined || e.at > now) return undefined
    this._q.shift()
    this._out.delete(e.id)
    return e.id
  }

  _deadline (): number { return this._top()?.at ?? 0 }

  _pending (): number[] { return [...this._out.keys()].sort((a, b) => a - b) }

  _received (id: number): BetterSocketError | null {
    if (this._inbound.has(id)) return protocolErr(`request id ${id} already pending`)
    if (this._inbound.size >= this._max) return new BetterSocketError('too-many-requests', 'session: too many pending requests')
    this._inbound.add(id)
    return null
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
  private readonly _cfg: Cfg
  private _state = State.Idle
  private _now = 0
  private _base = 0
  private _link: Link
  private _reqs: Requests

  private _id: Uint8Array = NO_ID
  private _token: Uint8Array | null = null
  private _have = false

  private _conn = 0
  private _peer: Limits = { maxMessageSize: 0, maxInflight: 0, maxRequests: 0 }
  private _hbInterval = 0
  private _idleTimeout = 0
  private _hbAt = 0
  private _hbDue = false
  private _shakeAt = 0
  private _helloAt = 0
  private _helloTries = 0
  private _sendHello = false
  private _sendClose: Close | null = null
  private _hangup = false
  private _attempt = 0
  private _connects = 0

  private _closing = false
  private _closeAt = 0
  private _closeReason = ''

  private _events: MachineEvent[] = []
  private _out: Uint8Array[] = []
  private readonly _w: Writer
  // Encryption (null: plaintext): the connection's secure layer, and the
  // handshake records it has for the server, which go out raw before
  // anything else in the next ready().
  private _sec: SecureLayer | null = null
  private _hsOut: Uint8Array[] = []

  constructor (config: MachineConfig = {}) {
    this._cfg = normalize(config)
    this._link = new Link(this._cfg)
    this._reqs = new Requests(this._cfg._maxRequests)
    this._w = new Writer(msg => this._out.push(this._sec === null ? msg : this._sec.seal(msg)))
  }

  /** The current session's client ID (16 zero bytes before the first WELCOME). */
  clientId (): Uint8Array { return this._id }

  /** Whether the handshake is complete on a live connection. */
  established (): boolean { return this._state === State.Open }

  /** Whether the machine has ended (its last event was closed). */
  ended (): boolean { return this._state === State.Closed }

  /** The largest transport message the server accepts (0 before the first WELCOME). */
  peerMaxMessageSize (): number { return this._have ? this._peerMax() : 0 }

  /** Whether a frame with this many payload bytes fits the send window now. */
  canSend (size: number): boolean {
    try {
      this._link._canPush(size)
      return true
    } catch {
      return false
    }
  }

  /** Unacknowledged reliable frames. */
  unacked (): number { return this._link._unacked() }

  /**
   * How far the server has acknowledged the current session's reliable
   * frames (messages, requests, responses): sent is the sequence number of
   * the last one queued, acked the server's cumulative acknowledgement.
   * Everything queued so far is acknowledged once acked reaches the sent of
   * that moment (a driver's flush waits for that). Both start again from
   * zero with a new session, as Go's Client.Acked.
   */
  acked (): { sent: number, acked: number } { return { sent: this._link._nextSeq - 1, acked: this._link._peerAck } }

  private _peerMax (): number {
    return this._peer.maxMessageSize > 0 ? this._peer.maxMessageSize : this._cfg._maxMessageSize
  }

  /** Consumes one input at time nowMs (the driver's clock, in milliseconds). */
  step (nowMs: number, input: MachineInput): void {
    const now = this._clock(nowMs)
    switch (input.type) {
      case 'connected': return this._connected(now, input.conn)
      case 'recv':
        if ((this._state === State.Handshake || this._state === State.Open) && input.conn === this._conn) this._recv(now, input.data)
        return
      case 'disconnected': return this._disconnected(now, input.conn, input.err)
      case 'timeout': return this._timeout(now)
      case 'send': {
        const name = input.name ?? ''
        checkName(name)
        return this._push(outFrame({ type: 5, seq: 0, ack: 0, payload: input.payload, room: '', name }, input.payload, name))
      }
      case 'call': {
        const name = input.name ?? ''
        checkName(name)
        return this._call(now, input.id, outFrame({ type: 6, seq: 0, ack: 0, id: input.id, payload: input.payload, name }, input.payload, name), input.timeoutMs)
      }
      case 'publish': {
        const name = input.name ?? ''
        checkRoom(input.room)
        checkName(name)
        return this._call(now, input.id, outFrame({ type: 11, seq: 0, ack: 0, id: input.id, room: input.room, name, payload: input.payload }, input.payload, input.room, name), input.timeoutMs)
      }
      case 'join': case 'leave':
        checkRoom(input.room)
        return this._call(now, input.id, outFrame({ type: input.type === 'join' ? 9 : 10, seq: 0, ack: 0, id: input.id, room: input.room }, null, input.room), input.timeoutMs)
      case 'reply': {
        if (this._state === State.Closed || this._closing) throw closedErr()
        if (!this._reqs._inbound.has(input.id)) throw new BetterSocketError('unknown-request', 'session: unknown request')
        const e = input.error ?? null
        const payload = e !== null ? null : input.payload
        // The error text is cut to fit the wire; its size is that of the text given, as in Go.
        const error = e === null ? null : { code: e.code, message: wireText(e.message) }
        this._push(outFrame({ type: 7, seq: 0, ack: 0, id: input.id, payload, error }, payload, e?.message ?? ''))
        this._reqs._inbound.delete(input.id)
        return
      }
      case 'close': return this._close(now, input.reason)
      case 'setAuth':
        this._cfg._auth = input.auth
        return
      case 'abort':
        if (this._state === State.Closed) throw closedErr()
        this._finish(now, { type: 8, code: CloseCode.Normal, reason: input.reason }, null)
    }
  }

  // Internally times are nanoseconds plus one, so that 0 means "not set"
  // as Go's zero time.Time does.
  private _clock (nowMs: number): number {
    let now = Math.round(Math.max(0, nowMs) * MS) + 1
    if (this._base === 0) this._base = now
    if (now < this._now) now = this._now
    this._now = now
    return now
  }

  private _maxPayload (): number {
    return this._peerMax() - FRAME_OVERHEAD - this._sealOverhead()
  }

  /** What sealing adds to a transport message. */
  private _sealOverhead (): number { return this._cfg._secure?.overhead ?? 0 }

  private _push (f: OutFrame): void {
    this._admit(f)
    this._link._push(f)
  }

  // Throws when f cannot be queued now: the session is closing, f is too
  // large for the server, or the send window is full.
  private _admit (f: OutFrame): void {
    if (this._state === State.Closed || this._closing) throw closedErr()
    if (f._size > this._maxPayload()) throw new BetterSocketError('too-large', `session: payload too large: ${f._size} bytes, limit ${this._maxPayload()}`)
    this._link._canPush(f._size)
  }

  private _call (now: number, id: number, f: OutFrame, timeoutMs: number | undefined): void {
    this._admit(f)
    const timeout = timeoutMs !== undefined && timeoutMs > 0 ? Math.round(timeoutMs * MS) : this._cfg._requestTimeout
    this._reqs._start(id, now + timeout, this._peer.maxRequests)
    this._link._push(f)
  }

  private _connected (now: number, conn: number): void {
    if (this._state === State.Closed) throw closedErr()
    if (this._state !== State.Idle) throw new BetterSocketError('invalid', 'session: invalid command: Connected while a connection is live')
    let first: Uint8Array | null = null
    const secure = this._cfg._secure
    if (secure !== null) {
      const sec = secure.open(this._cfg._random)
      first = sec.start()
      this._sec = sec
    }
    this._connects++
    this._state = State.Handshake
    this._conn = conn
    this._hangup = false
    this._sendHello = this._sec === null // with encryption: once the handshake completes
    this._hsOut = first === null ? [] : [first]
    this._shakeAt = now + this._cfg._handshakeTimeout
    this._helloTries = 0
    this._helloAt = now + this._cfg._initialRto
    this._link._lastRecvAt = now
  }

  private _hello (): Hello {
    return {
      type: 1,
      version: VERSION,
      resume: this._have ? { id: this._id, token: this._token, ack: this._link._recvAck, attempt: this._connects } : null,
      auth: this._cfg._auth,
      limits: { maxMessageSize: this._cfg._maxMessageSize, maxInflight: this._cfg._maxInflight, maxRequests: this._cfg._maxRequests }
    }
  }

  private _live (): boolean { return this._state === State.Handshake || this._state === State.Open }

  private _recv (now: number, data: Uint8Array): void {
    const sec = this._sec
    if (sec === null) {
      this._link._lastRecvAt = now
      this._frames(now, data)
      return
    }
    while (data.length > 0 && this._live()) {
      const r = sec.read(data)
      if (r.err !== null) {
        if (this._cfg._mode === 'datagram' && r.err.droppable) {
          data = r.rest
          continue
        }
        this._secureFailed(now, data, r.err)
        return
      }
      data = r.rest
      if (r.plain === null) { // a handshake record
        if (r.reply !== null) this._hsOut.push(r.reply)
        if (sec.established()) {
          this._sendHello = true
          this._helloAt = now + this._cfg._initialRto
        }
        continue
      }
      this._link._lastRecvAt = now
      this._frames(now, r.plain)
    }
  }

  /** Ends the connection whose secure layer refused data. */
  private _secureFailed (now: number, data: Uint8Array, err: SecureError): void {
    const sec = this._sec as SecureLayer
    if (err.kind === 'downgrade' && !sec.established()) {
      // A plaintext answer to the handshake: only a CLOSE refusing the
      // connection is expected. It is unauthenticated: a resumable code is
      // taken as a lost connection (retry later), another as the end.
      let f: Frame | null = null
      try {
        f = decodeFrame(data, this._cfg._maxMessageSize)
      } catch {}
      if (f !== null && f.type === FrameType.Close) {
        this._peerClosed(now, f)
        return
      }
      this._finish(now, null, err.within('session: the server answered in plaintext'))
      return
    }
    // Nothing can be said to a server that failed the handshake.
    const close: Close | null = sec.established() ? { type: 8, code: CloseCode.Security, reason: wireText(err.message) } : null
    this._finish(now, close, err.within('session'))
  }

  // Decodes one plaintext message and steps its frames.
  private _frames (now: number, data: Uint8Array): void {
    try {
      checkMessage(data, this._cfg._maxMessageSize)
      for (const f of frames(data)) {
        this._frame(now, f)
        if (!this._live()) break
      }
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err
      const code = err.kind === 'too-large' ? CloseCode.TooLarge : CloseCode.ProtocolError
      this._violation(now, code, protocolErr(err.message))
      return
    }
    if (this._closing && this._state === State.Open && this._link._unacked() === 0 && this._reqs._out.size === 0) {
      this._finish(now, { type: 8, code: CloseCode.Normal, reason: this._closeReason }, null)
    }
  }

  private _violation (now: number, code: number, err: Error): void {
    const reason = wireText(err.message)
    this._finish(now, { type: 8, code, reason }, new CloseError(code, reason, false))
  }

  private _frame (now: number, f: Frame): void {
    if (this._state === State.Handshake) {
      if (f.type === FrameType.Welcome) this._welcome(now, f)
      else if (f.type === FrameType.Close) this._peerClosed(now, f)
      else if (this._cfg._mode === 'stream') this._violation(now, CloseCode.ProtocolError, protocolErr(`${typeName(f.type)} before WELCOME`))
      return
    }
    switch (f.type) {
      case FrameType.Ack:
        this._ack(now, f.ack)
        return
      case FrameType.Heartbeat:
        if (!this._ack(now, f.ack)) return
        if (f.echo > 0) {
          const sent = this._base + f.echo * US
          if (sent <= now && now - sent < HOUR) this._link._sample(now - sent)
        }
        this._link._peerBehind(now)
        return
      case FrameType.Data:
      case FrameType.Request:
      case FrameType.Response:
        if (this._ack(now, f.ack)) this._reliable(now, f)
        return
      case FrameType.Close:
        this._peerClosed(now, f)
        return
      case FrameType.Welcome:
        if (this._cfg._mode === 'datagram' && equalBytes(f.id, this._id)) return
        this._violation(now, CloseCode.ProtocolError, protocolErr('WELCOME on an established connection'))
        return
      default:
        this._violation(now, CloseCode.ProtocolError, protocolErr(`${typeName(f.type)} is not sent by servers`))
    }
  }

  private _ack (now: number, a: number): boolean {
    const err = this._link._ack(a, now)
    if (err !== null) {
      this._violation(now, CloseCode.ProtocolError, err)
      return false
    }
    return true
  }

  private _reliable (now: number, f: InFrame): void {
    switch (this._link._accept(f.seq)) {
      case Accept.Deliver: {
        this._deliver(now, f)
        while (this._state === State.Open) {
          const next = this._link._popHeld()
          if (next === undefined) break
          this._deliver(now, next)
        }
        return
      }
      case Accept.Hold: this._link._hold(f); return
      case Accept.Overflow: this._violation(now, CloseCode.ProtocolError, this._link._overflow(f.seq))
    }
  }

  private _deliver (now: number, f: InFrame): void {
    const id = this._id
    switch (f.type) {
      case FrameType.Data:
        this._events.push({ type: 'delivered', client: id, seq: f.seq, payload: f.payload, room: f.room, name: f.name })
        return
      case FrameType.Request: {
        const err = this._reqs._received(f.id)
        if (err !== null) {
          this._violation(now, err.code === 'too-many-requests' ? CloseCode.Policy : CloseCode.ProtocolError, err)
          return
        }
        this._events.push({ type: 'request', client: id, id: f.id, payload: f.payload, name: f.name })
        return
      }
      case FrameType.Response:
        if (!this._reqs._finish(f.id)) return // a late response: its request already has its outcome
        this._events.push(f.error !== null
          ? { type: 'response', client: id, id: f.id, payload: null, err: new RemoteError(f.error.code, f.error.message) }
          : { type: 'response', client: id, id: f.id, payload: f.payload, err: null })
    }
  }

  private _welcome (now: number, w: Welcome): void {
    if (w.version !== VERSION) {
      this._violation(now, CloseCode.UnsupportedVersion, protocolErr(`server speaks version ${w.version}`))
      return
    }
    if (this._have && w.resumed) {
      if (!equalBytes(w.id, this._id)) {
        this._violation(now, CloseCode.ProtocolError, protocolErr(`resumed a different session ${uuid(w.id)}`))
        return
      }
      const err = this._link._resume(w.ack, now)
      if (err !== null) {
        this._violation(now, CloseCode.ProtocolError, err)
        return
      }
      this._events.push({ type: 'resumed', client: this._id })
    } else {
      if (this._have) {
        if (this._closing) {
          this._finish(now, { type: 8, code: CloseCode.Normal, reason: this._closeReason }, resumeRefused())
          return
        }
        this._loseSession(resumeRefused())
      }
      if (w.resumed) {
        this._violation(now, CloseCode.ProtocolError, protocolErr('WELCOME resumed a session that was not asked for'))
        return
      }
      if (w.ack !== 0) {
        this._violation(now, CloseCode.ProtocolError, protocolErr(`WELCOME of a new session acknowledges ${w.ack}`))
        return
      }
      this._id = w.id
      this._have = true
      this._events.push({ type: 'session-started', client: this._id })
    }
    this._token = w.token === null ? null : w.token.slice()
    this._peer = w.limits
    this._link._peerInflight = w.limits.maxInflight
    this._hbInterval = w.heartbeatMs * MS
    this._idleTimeout = w.idleTimeoutMs * MS
    this._hbAt = now + this._hbInterval
    this._link._lastRecvAt = now
    this._state = State.Open
    this._sendHello = false
    this._attempt = 0
    this._link._ackNow()
  }

  private _lose (): Lost {
    const lost: Lost = { unacked: this._link._lost(), requests: this._reqs._pending(), lastReceived: this._link._recvAck }
    for (const rid of lost.requests) {
      this._reqs._finish(rid)
      this._events.push({ type: 'response', client: this._id, id: rid, payload: null, err: new BetterSocketError('session-lost', 'session: session lost') })
    }
    return lost
  }

  private _loseSession (cause: Error): void {
    const lost = this._lose()
    this._events.push({ type: 'session-lost', client: this._id, err: cause, lost })
    this._have = false
    this._id = NO_ID
    this._token = null
    this._link = new Link(this._cfg)
    this._reqs = new Requests(this._cfg._maxRequests)
  }

  private _peerClosed (now: number, f: Close): void {
    const err = new CloseError(f.code, f.reason, true)
    if (resumable(f.code)) {
      this._hangup = true
      this._transportLost(now, err)
      return
    }
    this._finish(now, null, err)
  }

  private _transportLost (now: number, err: unknown): void {
    this._state = State.Idle
    this._sendHello = false
    this._hbDue = false
    this._sendClose = null
    this._sec = null
    this._hsOut = []
    this._link._detach()
    this._events.push({ type: 'connection-lost', err })
    this._scheduleDial(now)
  }

  private _scheduleDial (now: number): void {
    this._attempt++
    let ceiling = this._cfg._reconnectMin
    for (let i = 1; i < this._attempt && ceiling < this._cfg._reconnectMax; i++) ceiling *= 2
    ceiling = Math.min(ceiling, this._cfg._reconnectMax)
    const b = this._cfg._random(8)
    let r = 0n
    for (let i = 7; i >= 0; i--) r = (r << 8n) | BigInt(b[i] as number) // little-endian, as Go
    let delay = Number(r % BigInt(ceiling))
    if (this._closing && this._attempt === 1) delay = 0
    this._events.push({ type: 'dial', at: toMs(now + delay), attempt: this._attempt })
  }

  private _disconnected (now: number, conn: number, err: unknown): void {
    if (this._state === State.Closed) return
    if (this._state === State.Idle) {
      if (conn === 0) this._scheduleDial(now)
      return
    }
    if (conn !== this._conn) return
    this._transportLost(now, err ?? null)
  }

  private _timeout (now: number): void {
    if (this._state === State.Closed) return
    for (;;) {
      const rid = this._reqs._due(now)
      if (rid === undefined) break
      this._events.push({ type: 'response', client: this._id, id: rid, payload: null, err: new BetterSocketError('request-timeout', 'session: request timed out') })
    }
    if (this._closing && now >= this._closeAt) {
      this._finish(now, { type: 8, code: CloseCode.Normal, reason: this._closeReason }, null)
      return
    }
    if (this._state === State.Handshake) {
      if (now >= this._shakeAt) {
        this._hangup = true
        this._transportLost(now, new BetterSocketError('handshake-timeout', 'session: handshake timeout'))
        return
      }
      if (this._cfg._mode === 'datagram' && now >= this._helloAt) {
        const again = this._sec?.resend() ?? null
        if (again !== null) this._hsOut.push(again)
        this._sendHello = this._sec === null || this._sec.established()
        this._helloTries++
        this._helloAt = now + Math.min(this._cfg._initialRto * 2 ** Math.min(this._helloTries, 16), this._cfg._maxRto)
      }
    } else if (this._state === State.Open) {
      if (now >= this._link._lastRecvAt + this._idleTimeout) {
        this._hangup = true
        this._transportLost(now, new BetterSocketError('idle-timeout', 'session: idle timeout'))
        return
      }
      this._link._timeout(now)
      if (now >= this._hbAt) {
        this._hbDue = true
        this._hbAt += this._hbInterval
        if (this._hbAt <= now) this._hbAt = now + this._hbInterval
      }
    }
  }

  private _close (now: number, why: string): void {
    if (this._state === State.Closed || this._closing) throw closedErr()
    const pending = this._link._unacked() > 0 || this._reqs._out.size > 0
    if (pending && (this._state === State.Open || this._have)) {
      this._closing = true
      this._closeReason = why
      this._closeAt = now + this._cfg._closeTimeout
      if (this._state === State.Idle) this._events.push({ type: 'dial', at: toMs(now), attempt: this._attempt })
      return
    }
    this._finish(now, { type: 8, code: CloseCode.Normal, reason: why }, null)
  }

  private _finish (_now: number, send: Close | null, err: unknown): void {
    if (this._live()) {
      this._sendClose = send
      this._hangup = true
    }
    const lost = this._lose()
    this._state = State.Closed
    this._closing = false
    this._events.push({ type: 'closed', client: this._id, err, lost })
  }

  /** Drains what the machine wants done. Call it after each step (or after a batch of steps). */
  ready (): Ready {
    const live = this._live() || this._sendClose !== null
    if (live && !(this._hangup && this._sendClose === null)) {
      for (const r of this._hsOut) this._out.push(r)
      this._hsOut = []
    }
    if (this._sec !== null && !this._sec.established()) this._sendClose = null // nothing is said before the channel exists
    if (live && !(this._hangup && this._sendClose === null)) {
      const w = this._w
      w._begin(this._peerMax() - this._sealOverhead())
      if (this._sendHello) {
        w._frame(this._hello())
        this._sendHello = false
      }
      if (this._state === State.Open) {
        this._link._flush(w, this._now)
        if (this._hbDue) {
          w._frame({ type: 4, ack: this._link._recvAck, echo: Math.floor((this._now - this._base) / US) })
          this._hbDue = false
          this._link._acked()
        }
        if (this._link._ackDue && !this._link._holdAck(this._now)) {
          w._frame({ type: 3, ack: this._link._recvAck })
          this._link._acked()
        }
      }
      if (this._sendClose !== null) {
        w._frame(this._sendClose)
        this._sendClose = null
      }
      w._end()
    }
    const deadline = this._deadline()
    const rd: Ready = { transmit: this._out, hangup: this._hangup, events: this._events, deadline: deadline === 0 ? null : toMs(deadline) }
    this._out = []
    this._events = []
    this._hangup = false
    return rd
  }

  private _deadline (): number {
    let d = earliest(0, this._reqs._deadline())
    if (this._state === State.Handshake) {
      d = earliest(d, this._shakeAt)
      if (this._cfg._mode === 'datagram') d = earliest(d, this._helloAt)
    } else if (this._state === State.Open) {
      d = earliest(d, this._hbAt)
      d = earliest(d, this._link._lastRecvAt + this._idleTimeout)
      d = earliest(d, this._link._deadline())
    }
    if (this._closing) d = earliest(d, this._closeAt)
    return d
  }
}

function toMs (t: number): number { return (t - 1) / MS }

/** The earlier of two times, 0 meaning not set. */
function earliest (d: number, t: number): number { return t !== 0 && (d === 0 || t < d) ? t : d }

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

