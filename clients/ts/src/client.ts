// The driver: runs a ClientMachine over a WebSocket. It is the only code
// with timers and sockets. Every input (a message, the socket opening or
// closing, the deadline passing, an application call) is stepped into the
// machine at once; the machine's output is drained once per microtask
// turn, so that what the application sends in one turn, and the
// acknowledgements of what arrived, go out together in one transport
// message, as the Go adapters batch theirs.

import { ClientMachine, uuid, type Lost, type MachineConfig, type MachineEvent, type MachineInput } from './machine.js'
import { BetterSocketError, RemoteError } from './errors.js'
import { ErrorCode, MAX_NAME_LEN } from './wire.js'
import { cbor, type PayloadCodec } from './payload.js'
import { validText } from './text.js'

/** The part of the WebSocket API the client uses (the browser's, Node's, or the ws package's). */
export interface WebSocketLike {
  binaryType: string
  readonly readyState: number
  send: (data: Uint8Array) => void
  close: (code?: number, reason?: string) => void
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: unknown) => void) | null
  onerror: ((ev: unknown) => void) | null
}
/** A WebSocket constructor. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike

/** What a request handler gets besides the payload: the request's ID and method name ('' for an unnamed request). */
export interface RequestContext { id: number, name: string }

/** Answers the server's requests: return (or resolve with) the response value; throw a [RemoteError] to refuse. */
export type RequestHandler<Req = unknown, Res = unknown> = (req: Req, ctx: RequestContext) => Res | Promise<Res>

/** A message from the server, as the 'message' event and message handlers get it. */
export interface Message<M = unknown> {
  /** The payload decoded by the payload codec (undefined, with error set, when it could not be). */
  data: M
  /** The payload's bytes. */
  payload: Uint8Array | null
  /** The room it was broadcast or published to, or '' for one addressed to this session. */
  room: string
  /** Its event name, or '' for an unnamed message. */
  name: string
  /** Its sequence number in the session. */
  seq: number
  /** Why data could not be decoded. */
  error?: unknown
}

/** Options of [Client]. Durations are in milliseconds. */
export interface ClientOptions extends MachineConfig {
  /** The WebSocket implementation. Default: globalThis.WebSocket (browsers, Node.js 22+); on older Node.js pass the ws package's. */
  WebSocket?: WebSocketConstructor
  /** How typed payloads are encoded. Default: CBOR, as the Go typed helpers. */
  codec?: PayloadCodec
  /**
   * Answers the server's requests. Return the response value; throw a
   * [RemoteError] to answer with its code and message. Any other throw
   * answers ErrorCode.Internal "internal error" (its text stays here); a
   * payload the codec cannot decode is answered ErrorCode.BadRequest.
   * Without a handler every request is answered ErrorCode.Unavailable.
   */
  onRequest?: RequestHandler
  /**
   * Called before every connection attempt (the first, and each reconnect)
   * for the credentials sent in that connection's HELLO, in place of auth:
   * an expiring token is refreshed here, and the server's authorization
   * hook sees the new one when the session resumes. It may return a
   * promise; signal aborts when the client ends. A throw or rejection fails
   * that attempt (a connectFailed event with its error), which is retried
   * with the reconnect backoff like a failed dial. As Go's
   * ClientOptions.Credentials.
   */
  credentials?: (signal: AbortSignal) => Uint8Array | null | Promise<Uint8Array | null>
  /**
   * Makes connect reject with the first failed connection attempt's error
   * (and end the client) instead of retrying it with the reconnect backoff
   * until its signal aborts. Reconnects after the first session started
   * always retry. As Go's ClientOptions.FailFast.
   */
  failFast?: boolean
  /**
   * Bounds each connection attempt: credentials and the WebSocket's
   * opening (the protocol's handshake after it is bounded by
   * handshakeTimeoutMs). An attempt that takes longer fails with a
   * 'handshake-timeout' error and is retried. Default: handshakeTimeoutMs
   * (10 s). As Go's ClientOptions.DialTimeout.
   */
  dialTimeoutMs?: number
}

/** Options of one call. */
export interface CallOptions {
  /** Aborts the call: a waiting send is withdrawn; a request ends with an 'aborted' error. */
  signal?: AbortSignal
}

/** Options of a request. */
export interface RequestOptions extends CallOptions {
  /** The request's timeout from when it is first sent. Default: the client's requestTimeoutMs (30 s). */
  timeoutMs?: number
}

/** Options of a publish. */
export interface PublishOptions extends RequestOptions {
  /** The event name the members get the message with. Default '' (unnamed). */
  name?: string
}

/** The events of a [Client], by name. */
export interface ClientEvents<M = unknown> {
  /**
   * A message from the server, exactly once and in order, unless it is
   * named and a handler is registered for its name (handleMessage): data
   * decoded by the payload codec (error is set, and data undefined, when
   * it could not be), payload its bytes, room '' for one addressed to this
   * session, name '' for an unnamed one.
   */
  message: Message<M>
  /** A new session began (the first connection, or after the previous session was lost). */
  connected: { clientId: string }
  /** The session continued on a new connection; what was missed is delivered next. */
  resumed: { clientId: string }
  /**
   * An established connection (its session started or resumed) is gone;
   * the client reconnects at reconnectAt (performance.now() time) and
   * resumes. Once for each such connection, whatever ended it.
   */
  connectionLost: { error: unknown, reconnectAt: number | null }
  /**
   * A connection attempt failed before its session started or resumed: the
   * WebSocket did not open, it closed or timed out before the server's
   * WELCOME, or credentials failed. attempt counts the failures since the
   * last established connection, from 1; the client tries again at
   * reconnectAt (null: it does not, as it is ending). The first
   * connection's failed attempts are reported too.
   */
  connectFailed: { attempt: number, error: unknown, reconnectAt: number | null }
  /** The session ended but the client goes on with a new one; lost lists what was never acknowledged. */
  sessionLost: { error: Error, lost: Lost }
  /** The client ended (close(), or the server ended the session). lost lists what was never acknowledged. */
  closed: { error: unknown, lost: Lost }
  /**
   * After a sessionLost and the connected event of the new session: the
   * client asked the server to join again every room the lost session was
   * in (see rooms()). rejoined are the rooms the new session is back in,
   * refused those it is not, each with why (a RemoteError from the server,
   * or the error that ended the join), both in name order. A room message
   * sent before the re-join completed did not reach the new session.
   */
  roomsRejoined: { clientId: string, rejoined: string[], refused: Array<{ room: string, error: unknown }> }
}

type Listener<T> = (ev: T) => void

interface Waiter {
  _done: boolean // stepped, aborted or failed: skipped by the queue
  _input: MachineInput
  _resolve: () => void
  _reject: (err: unknown) => void
  _signal: AbortSignal | undefined
  _onAbort: () => void
}

interface Pending {
  _resolve: (value: unknown) => void
  _reject: (err: unknown) => void
  _in: MachineInput // a join or leave is noted in the rooms on success
}

/** A flush waiting for the server to acknowledge up to _mark in session _epoch. */
interface FlushWait {
  _epoch: number
  _mark: number
  _resolve: () => void
  _reject: (err: unknown) => void
  _signal: AbortSignal | undefined
  _onAbort: () => void
}

function aborted (signal: AbortSignal): BetterSocketError {
  return new BetterSocketError('aborted', 'client: aborted', { cause: signal.reason })
}

const now = (): number => performance.now()
const settled = Promise.resolve()
const closedErr = (): BetterSocketError => new BetterSocketError('closed', 'session: closed')
const lostErr = (): BetterSocketError => new BetterSocketError('session-lost', 'session: session lost')

/**
 * A better-socket client: one logical session over a WebSocket that
 * reconnects and resumes by itself. Every message is delivered exactly once
 * and in order; every request ends in exactly one outcome. Create it with
 * [connect].
 */
export class Client<M = unknown> {
  private readonly _m: ClientMachine
  private readonly _codec: PayloadCodec
  private readonly _WS: WebSocketConstructor
  private _ws: WebSocketLike | null = null
  private _conn = 0
  private _timer: ReturnType<typeof setTimeout> | undefined
  private _timerAt = Infinity // when the timer fires
  private _deadline: number | null = null // the machine's, as of the latest pump
  private _dialTimer: ReturnType<typeof setTimeout> | undefined
  private _scheduled = false
  // Commands waiting for the send window, in order: a queue with a head
  // index, so that draining a long one costs O(1) per command.
  private _waiters: Waiter[] = []
  private _waitHead = 0
  private readonly _pending = new Map<number, Pending>()
  private _nextId = 1
  private readonly _listeners = new Map<keyof ClientEvents<M>, Array<Listener<never>>>()
  private _closedWith: { error: unknown, lost: Lost } | null = null
  private readonly _closeWaiters: Array<(v: { error: unknown, lost: Lost }) => void> = []
  private readonly _onRequest: RequestHandler | undefined
  private readonly _msgHandlers = new Map<string, (data: never, msg: Message<never>) => void>()
  private readonly _reqHandlers = new Map<string, RequestHandler<never>>()
  private _clientIdText = ''
  private readonly _url: string
  private readonly _credentials: ClientOptions['credentials']
  private readonly _ac = new AbortController() // aborts credentials when the client ends
  // Attempts: _open while the current connection is established; the
  // failures since the last one that was; why a dial failed, until the
  // machine's dial event for the next attempt reports it.
  private _open = false
  private _failures = 0
  private _dialErr: { err: unknown } | null = null
  private readonly _dialTimeout: number
  private _attemptTimer: ReturnType<typeof setTimeout> | undefined
  private _opening: WebSocketLike | null = null // the attempt's socket until it opens
  // Rooms (as Go's roomBook): joined as far as this client knows, those a
  // lost session was in (re-joined by the next), those being re-joined.
  private readonly _joined = new Set<string>()
  private _lostRooms: string[] = []
  private readonly _rejoining = new Set<string>()
  // Sessions: _epoch counts the lost ones, _session says whether there is
  // a current one.
  private _epoch = 0
  private _session = false
  private _flushes: FlushWait[] = []

  /** Use [connect]; the constructor starts dialling at once. */
  constructor (url: string, opts: ClientOptions = {}) {
    this._url = url
    const WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (WS === undefined) {
      throw new TypeError('bettersocket: no WebSocket implementation: pass options.WebSocket (on Node.js before 22, the ws package\'s WebSocket)')
    }
    this._WS = WS
    this._codec = opts.codec ?? cbor
    this._onRequest = opts.onRequest
    this._credentials = opts.credentials
    const positive = (ms: number | undefined): number | undefined => ms !== undefined && ms > 0 ? ms : undefined
    this._dialTimeout = positive(opts.dialTimeoutMs) ?? positive(opts.handshakeTimeoutMs) ?? 10e3
    // As the Go adapters: an acknowledgement waits up to 1 ms for a frame
    // to carry it, so a request and its response cost one transport
    // message each way.
    this._m = new ClientMachine({ ...opts, ackDelayMs: opts.ackDelayMs ?? 1 })
    this._dial()
  }

  /** The current session's client ID (a UUID), or '' before the first session. */
  get clientId (): string { return this._clientIdText }

  /** Listens to an event; returns the function that stops listening. */
  on<K extends keyof ClientEvents<M>>(type: K, fn: Listener<ClientEvents<M>[K]>): () => void {
    let list = this._listeners.get(type)
    if (list === undefined) this._listeners.set(type, (list = []))
    const l = fn as Listener<never>
    list.push(l)
    return () => {
      const i = (list as Array<Listener<never>>).indexOf(l)
      if (i >= 0) list?.splice(i, 1)
    }
  }

  private _fire<K extends keyof ClientEvents<M>>(type: K, ev: ClientEvents<M>[K]): void {
    for (const fn of [...(this._listeners.get(type) ?? [])]) guard(fn as Listener<ClientEvents<M>[K]>, ev)
  }

  /**
   * Routes the server's messages named event to fn instead of the 'message'
   * event, as the Go side's Mux.HandleMessage does; returns the function
   * that removes the route. Named messages without a handler, and unnamed
   * ones, go to the 'message' event with their name. It throws a TypeError
   * when event is not 1 to 255 bytes of UTF-8 or already has a handler.
   */
  handleMessage<T = unknown>(event: string, fn: (data: T, msg: Message<T>) => void): () => void {
    return route(this._msgHandlers, 'event', event, fn as (data: never, msg: Message<never>) => void)
  }

  /**
   * Routes the server's requests naming method to fn, as the Go side's
   * Mux.HandleRequest does; returns the function that removes the route.
   * A named request with no handler is answered ErrorCode.NotFound
   * "unknown method"; unnamed requests go to options.onRequest. fn answers
   * as onRequest does. It throws as handleMessage does.
   */
  handleRequest<Req = unknown, Res = unknown>(method: string, fn: RequestHandler<Req, Res>): () => void {
    return route(this._reqHandlers, 'method', method, fn as RequestHandler<never>)
  }

  /**
   * Sends a message, reliably: it reaches the server exactly once, in order,
   * across reconnects. The promise resolves once the message is queued; it
   * waits while the send window is full (backpressure), which signal can
   * abort. It rejects with a 'closed' error after close().
   */
  async send<T extends M = M>(message: T, opts: CallOptions = {}): Promise<void> {
    await this._submit({ type: 'send', payload: this._codec.encode(message) }, opts.signal)
  }

  /**
   * Sends a message named event: send with an event name, which the
   * server's Mux routes to its handler for event. '' sends an unnamed
   * message; a name longer than 255 bytes of UTF-8 rejects with an
   * 'invalid' error.
   */
  async emit<T = unknown>(event: string, data: T, opts: CallOptions = {}): Promise<void> {
    await this._submit({ type: 'send', name: event, payload: this._codec.encode(data) }, opts.signal)
  }

  /**
   * Sends a request and resolves with its response. It ends in exactly one
   * of: the response; a [RemoteError] (the server answered with an error);
   * a BetterSocketError 'request-timeout', 'session-lost' or 'aborted'.
   */
  request<Req = unknown, Res = unknown>(req: Req, opts: RequestOptions = {}): Promise<Res> {
    return this.invoke<Req, Res>('', req, opts)
  }

  /**
   * Sends a request naming method, which the server's Mux routes to its
   * handler for method; it ends as request does, and with a RemoteError of
   * code ErrorCode.NotFound when the server has no handler for method.
   * '' sends an unnamed request.
   */
  invoke<Req = unknown, Res = unknown>(method: string, req: Req, opts: RequestOptions = {}): Promise<Res> {
    // Not async: each async layer adds promise hops to a round trip.
    let payload: Uint8Array
    try {
      payload = this._codec.encode(req)
    } catch (err) {
      return Promise.reject(err)
    }
    return this._call({ type: 'call', id: this._nextId++, name: method, payload }, opts) as Promise<Res>
  }

  /**
   * Delivers data, named opts.name, to every other member of room through
   * the server, and resolves when the server accepted it: every other
   * member has it queued (each gets it exactly once, with room and name
   * set; this client does not get it back). Otherwise it rejects with a
   * [RemoteError]: code ErrorCode.Forbidden when this session is not a
   * member of room or the server refused (nobody got it), or
   * ErrorCode.Unavailable when members whose send windows were full were
   * skipped (the others got it: do not publish again blindly); or, as a
   * request, 'request-timeout', 'session-lost', 'aborted' or 'closed'.
   */
  async publish<T = unknown>(room: string, data: T, opts: PublishOptions = {}): Promise<void> {
    await this._call({ type: 'publish', id: this._nextId++, room, name: opts.name ?? '', payload: this._codec.encode(data) }, opts)
  }

  /** Asks the server to add this session to room; rejects with a RemoteError when it refuses. */
  async join (room: string, opts: RequestOptions = {}): Promise<void> {
    await this._call({ type: 'join', id: this._nextId++, room }, opts)
  }

  /** Asks the server to remove this session from room. */
  async leave (room: string, opts: RequestOptions = {}): Promise<void> {
    await this._call({ type: 'leave', id: this._nextId++, room }, opts)
  }

  /** Steps a request, join, leave or publish with opts; resolves with the decoded response of a request (undefined for the others). */
  private _call (input: Extract<MachineInput, { timeoutMs?: number }>, opts: RequestOptions): Promise<unknown> {
    if (opts.timeoutMs !== undefined) input.timeoutMs = opts.timeoutMs
    const id = input.id
    if (opts.signal === undefined && this._waitHead === this._waiters.length) {
      // The common case, without the promise hops of abort handling and
      // of a wait for the window. The outcome is registered before the
      // step: the machine's events come out in pump, after this returns.
      return new Promise((resolve, reject) => {
        this._pending.set(id, { _resolve: resolve, _reject: reject, _in: input })
        let sent: boolean
        try {
          sent = this._tryStep(input)
        } catch (err) {
          this._pending.delete(id)
          reject(err)
          return
        }
        if (!sent) {
          this._pending.delete(id)
          this._waitingCall(input, undefined).then(resolve, reject)
        }
      })
    }
    return this._waitingCall(input, opts.signal)
  }

  private async _waitingCall (input: Extract<MachineInput, { id: number }>, signal: AbortSignal | undefined): Promise<unknown> {
    const id = input.id
    if (signal?.aborted === true) throw aborted(signal)
    const outcome = new Promise<unknown>((resolve, reject) => {
      this._pending.set(id, { _resolve: resolve, _reject: reject, _in: input })
    })
    // Aborted while it waits for the window, the request never went out:
    // the abort is reported by submit, and this one is nobody's to await.
    outcome.catch(() => {})
    let onAbort: (() => void) | undefined
    if (signal !== undefined) {
      onAbort = () => {
        const p = this._pending.get(id)
        if (p !== undefined) {
          this._pending.delete(id)
          p._reject(aborted(signal))
        }
      }
      signal.addEventListener('abort', onAbort, { once: true })
    }
    try {
      await this._submit(input, signal)
    } catch (err) {
      this._pending.delete(id)
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
      throw err
    }
    try {
      return await outcome
    } finally {
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Steps an application command, waiting (in order) while the window is full. */
  private async _submit (input: MachineInput, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted === true) throw aborted(signal)
    if (this._waitHead === this._waiters.length && this._tryStep(input)) return
    await new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        _done: false,
        _input: input,
        _resolve: resolve,
        _reject: reject,
        _signal: signal,
        _onAbort: () => {
          if (!w._done) {
            w._done = true
            reject(aborted(signal as AbortSignal))
          }
        }
      }
      signal?.addEventListener('abort', w._onAbort, { once: true })
      this._waiters.push(w)
    })
  }

  /** Steps input; false when the window is full. Other errors throw. */
  private _tryStep (input: MachineInput): boolean {
    try {
      this._m.step(now(), input)
    } catch (err) {
      if (err instanceof BetterSocketError && err.code === 'backpressure') return false
      throw err
    }
    this._schedule()
    return true
  }

  private _drainWaiters (): void {
    while (this._waitHead < this._waiters.length) {
      const w = this._waiters[this._waitHead] as Waiter
      if (!w._done) {
        let ok: boolean
        try {
          ok = this._tryStep(w._input)
        } catch (err) {
          ok = true
          w._done = true
          w._signal?.removeEventListener('abort', w._onAbort)
          w._reject(err)
        }
        if (!ok) break
        if (!w._done) {
          w._done = true
          w._signal?.removeEventListener('abort', w._onAbort)
          w._resolve()
        }
      }
      this._waiters[this._waitHead++] = undefined as unknown as Waiter
    }
    if (this._waitHead === this._waiters.length) {
      this._waiters = []
      this._waitHead = 0
    } else if (this._waitHead > 1024 && this._waitHead * 2 > this._waiters.length) {
      this._waiters = this._waiters.slice(this._waitHead)
      this._waitHead = 0
    }
  }

  /**
   * The rooms this client's session is in as far as it knows, in name
   * order: those its join entered and no leave left since, and those
   * re-joined after a lost session. A join whose outcome was 'session-lost'
   * or 'aborted' is not counted (the server may or may not have seen it),
   * nor is a room the server removed the session from on its own.
   */
  rooms (): string[] { return [...this._joined].sort() }

  /**
   * Resolves when the server has acknowledged everything this client
   * queued before the call: messages, requests and responses (a send
   * queues once its promise resolves). Acknowledged means received by the
   * server's machine, not handled: a request may still be unanswered. It
   * rejects with a BetterSocketError 'session-lost' when the session is
   * lost first (the sessionLost event lists what was not acknowledged),
   * 'closed' when the client ends first, or 'aborted' on signal. What is
   * sent after the call is not waited for, and flush does not stop anyone
   * sending; across a reconnect it waits for the resumed session's
   * acknowledgements. As Go's Client.Flush.
   */
  flush (opts: CallOptions = {}): Promise<void> {
    const signal = opts.signal
    if (signal?.aborted === true) return Promise.reject(aborted(signal))
    if (this._closedWith !== null) return Promise.reject(closedErr())
    if (!this._session) return Promise.reject(lostErr()) // between a lost session and the next
    const { sent, acked } = this._m.acked()
    if (acked >= sent) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const w: FlushWait = {
        _epoch: this._epoch,
        _mark: sent,
        _resolve: resolve,
        _reject: reject,
        _signal: signal,
        _onAbort: () => {
          this._flushes = this._flushes.filter(x => x !== w)
          reject(aborted(signal as AbortSignal))
        }
      }
      signal?.addEventListener('abort', w._onAbort, { once: true })
      this._flushes.push(w)
    })
  }

  /** Settles the flushes whose marks are acknowledged or whose sessions are gone. */
  private _checkFlushes (): void {
    const { acked } = this._m.acked()
    this._flushes = this._flushes.filter(w => {
      let err: BetterSocketError | null = null
      if (w._epoch !== this._epoch) err = lostErr()
      else if (acked < w._mark) return true
      w._signal?.removeEventListener('abort', w._onAbort)
      if (err === null) w._resolve()
      else w._reject(err)
      return false
    })
  }

  /**
   * Ends the session gracefully: what is pending is flushed (reconnecting if
   * needed, up to closeTimeoutMs), then the server is told. Resolves with
   * the report of what was never acknowledged (empty lists after a clean
   * close).
   */
  async close (reason = ''): Promise<Lost> {
    if (this._closedWith === null) {
      try {
        this._m.step(now(), { type: 'close', reason })
      } catch (err) {
        if (!(err instanceof BetterSocketError && err.code === 'closed')) throw err
      }
      this._schedule()
    }
    return (await this.closed()).lost
  }

  /** Resolves when the client has ended, with why and what was lost. */
  async closed (): Promise<{ error: unknown, lost: Lost }> {
    if (this._closedWith !== null) return this._closedWith
    return await new Promise(resolve => this._closeWaiters.push(resolve))
  }

  // --- the machine's side ---

  private _step (input: MachineInput): void {
    this._m.step(now(), input)
    this._schedule()
  }

  private _schedule (): void {
    if (this._scheduled) return
    this._scheduled = true
    // A then() of a settled promise, not queueMicrotask: Node.js wraps
    // each queueMicrotask callback in an async resource, which costs more
    // than the pump itself on a round trip.
    settled.then(this._scheduledPump, undefined)
  }

  private readonly _scheduledPump = (): void => {
    this._scheduled = false
    this._pump()
  }

  private _pump (): void {
    const rd = this._m.ready()
    const ws = this._ws
    if (ws !== null) {
      for (const msg of rd.transmit) ws.send(msg)
      if (rd.hangup) {
        this._ws = null
        this._detach(ws)
        ws.close(1000)
      }
    }
    rd.events.forEach((ev, i) => {
      if (ev.type === 'connection-lost') {
        const dial = rd.events.slice(i + 1).find(e => e.type === 'dial')
        const reconnectAt = dial?.type === 'dial' ? dial.at : null
        if (this._open) {
          this._open = false
          this._fire('connectionLost', { error: ev.err, reconnectAt })
        } else {
          this._connectFailed(ev.err, reconnectAt) // an attempt, not an established connection
        }
      } else {
        this._event(ev)
      }
    })
    if (this._flushes.length > 0) this._checkFlushes()
    this._deadline = rd.deadline
    if (rd.deadline !== null && rd.deadline < this._timerAt) settled.then().then().then(this._armTimer)
    if (this._waitHead < this._waiters.length) this._drainWaiters()
  }

  // One timer, re-armed only when the machine needs a step earlier than it
  // fires: a timeout that comes early is harmless (the machine does what is
  // due and names its next deadline). The timer is armed a few microtasks
  // after the pump that found the deadline nearer, from the deadline of
  // the latest pump by then, still within the same task: a response makes
  // its acknowledgement due within ackDelayMs, and when the application
  // answers it at once with its next request, which carries that
  // acknowledgement, the deadline is far again by then and no timer was
  // armed or fired for it. Armed at once, that timer fired (early) every
  // ackDelayMs during a run of round trips, each time a wake-up of the
  // event loop of its own; see BenchmarkTypeScriptSideBySide.
  private readonly _armTimer = (): void => {
    const d = this._deadline
    if (d === null || d >= this._timerAt) return
    clearTimeout(this._timer)
    this._timerAt = d
    this._timer = setTimeout(() => {
      this._timerAt = Infinity
      this._step({ type: 'timeout' })
    }, Math.ceil(d - now())) // a negative delay is none
  }

  private _event (ev: MachineEvent): void {
    switch (ev.type) {
      case 'session-started': {
        this._clientIdText = uuid(ev.client)
        this._open = this._session = true
        this._failures = 0
        this._fire('connected', { clientId: this._clientIdText })
        const rooms = this._lostRooms
        this._lostRooms = []
        if (rooms.length > 0 && this._closedWith === null) this._rejoin(rooms)
        return
      }
      case 'resumed':
        this._open = true
        this._failures = 0
        this._fire('resumed', { clientId: this._clientIdText })
        return
      case 'dial': {
        const failed = this._dialErr
        this._dialErr = null
        if (failed !== null) this._connectFailed(failed.err, ev.at)
        clearTimeout(this._dialTimer)
        this._dialTimer = setTimeout(() => this._dial(), ev.at - now()) // a negative delay is none
        return
      }
      case 'delivered': {
        let data: unknown
        let error: unknown
        try {
          data = ev.payload === null ? undefined : this._codec.decode(ev.payload)
        } catch (err) {
          error = err
        }
        const msg: Message<M> = { data: data as M, payload: ev.payload, room: ev.room, name: ev.name, seq: ev.seq }
        if (error !== undefined) msg.error = error
        const h = ev.name === '' ? undefined : this._msgHandlers.get(ev.name)
        if (h !== undefined) guard(() => h(data as never, msg as Message<never>), undefined)
        else this._fire('message', msg)
        return
      }
      case 'request':
        this._answer(ev.id, ev.name, ev.payload)
        return
      case 'response': {
        const p = this._pending.get(ev.id)
        if (p === undefined) return // aborted by its caller
        this._pending.delete(ev.id)
        const i = p._in
        if (ev.err !== null) {
          p._reject(ev.err)
          return
        }
        if (i.type === 'join') this._joined.add(i.room)
        if (i.type === 'leave') this._joined.delete(i.room)
        // A request's response is decoded here, not in a then() of the
        // caller's promise: one promise hop less per round trip.
        let v: unknown
        try {
          v = i.type !== 'call' || ev.payload === null ? undefined : this._codec.decode(ev.payload)
        } catch (err) {
          p._reject(err)
          return
        }
        p._resolve(v)
        return
      }
      case 'session-lost':
        // The lost session's rooms, and those it was still re-joining, are
        // for the next session to join again.
        for (const r of this._rejoining) this._joined.add(r)
        this._rejoining.clear()
        this._lostRooms = [...this._joined].sort()
        this._joined.clear()
        this._epoch++
        this._session = false
        this._checkFlushes()
        this._fire('sessionLost', { error: ev.err, lost: ev.lost })
        return
      case 'closed': {
        clearTimeout(this._timer)
        clearTimeout(this._dialTimer)
        clearTimeout(this._attemptTimer)
        this._abandon() // an attempt under way when the client ended
        this._ac.abort()
        this._dialErr = null
        this._closedWith = { error: ev.err, lost: ev.lost }
        this._checkFlushes() // acknowledged before the end: resolved
        for (const w of this._flushes) {
          w._signal?.removeEventListener('abort', w._onAbort)
          w._reject(closedErr())
        }
        this._flushes = []
        for (const w of this._waiters.slice(this._waitHead)) {
          if (w._done) continue
          w._done = true
          w._signal?.removeEventListener('abort', w._onAbort)
          w._reject(closedErr())
        }
        this._waiters = []
        this._waitHead = 0
        this._fire('closed', this._closedWith)
        for (const r of this._closeWaiters.splice(0)) r(this._closedWith)
      }
    }
  }

  /** Joins rooms again in the new session, all at once, and reports the outcome in one roomsRejoined event. */
  private _rejoin (rooms: string[]): void {
    const clientId = this._clientIdText
    const epoch = this._epoch
    for (const r of rooms) this._rejoining.add(r)
    void Promise.allSettled(rooms.map(async r => { await this.join(r) })).then(outcomes => {
      if (epoch === this._epoch) for (const r of rooms) this._rejoining.delete(r)
      if (this._closedWith !== null) return
      const ev: ClientEvents['roomsRejoined'] = { clientId, rejoined: [], refused: [] }
      outcomes.forEach((o, i) => {
        const room = rooms[i] as string
        if (o.status === 'fulfilled') ev.rejoined.push(room)
        else ev.refused.push({ room, error: o.reason })
      })
      this._fire('roomsRejoined', ev)
    })
  }

  private _connectFailed (err: unknown, reconnectAt: number | null): void {
    this._failures++
    this._fire('connectFailed', { attempt: this._failures, error: err, reconnectAt })
  }

  private _answer (id: number, name: string, payload: Uint8Array | null): void {
    // A reply waits for the send window like any message; it fails only
    // when the session ended or was lost meanwhile, and the request with it.
    const reply = (input: MachineInput): void => {
      this._submit(input, undefined).catch((err: unknown) => {
        if (!(err instanceof BetterSocketError)) throw err
      })
    }
    const fail = (err: unknown): void => {
      const e = err instanceof RemoteError
        ? { code: err.code, message: err.message }
        : { code: ErrorCode.Internal, message: 'internal error' }
      reply({ type: 'reply', id, payload: null, error: e })
    }
    let handler: RequestHandler | undefined = this._onRequest
    if (name !== '') {
      handler = this._reqHandlers.get(name) as RequestHandler | undefined
      if (handler === undefined) {
        fail(new RemoteError(ErrorCode.NotFound, 'unknown method')) // as the Go Mux
        return
      }
    }
    if (handler === undefined) {
      fail(new RemoteError(ErrorCode.Unavailable, 'no request handler'))
      return
    }
    const h = handler
    let req: unknown
    try {
      req = payload === null ? undefined : this._codec.decode(payload)
    } catch {
      fail(new RemoteError(ErrorCode.BadRequest, 'undecodable request')) // as the Go typed handlers
      return
    }
    Promise.resolve()
      .then(() => h(req, { id, name }))
      .then(res => reply({ type: 'reply', id, payload: this._codec.encode(res) }), fail)
  }

  // --- the socket's side ---

  private _dial (): void {
    if (this._m.ended()) return
    const id = ++this._conn
    clearTimeout(this._attemptTimer)
    this._attemptTimer = setTimeout(() => {
      if (id !== this._conn) return
      this._conn++ // what this attempt still does (credentials, opening) is ignored
      this._abandon()
      this._failed(new BetterSocketError('handshake-timeout', 'client: connection attempt timed out'))
    }, this._dialTimeout)
    const creds = this._credentials
    if (creds === undefined) {
      this._connect(id)
      return
    }
    new Promise<Uint8Array | null>(resolve => resolve(creds(this._ac.signal))).then(auth => {
      if (id !== this._conn || this._m.ended()) return
      this._step({ type: 'setAuth', auth: auth === null ? null : auth.slice() })
      this._connect(id)
    }, (err: unknown) => {
      if (id === this._conn && !this._m.ended()) this._failed(err)
    })
  }

  /** Closes the attempt's socket that has not opened yet, if there is one. */
  private _abandon (): void {
    const ws = this._opening
    this._opening = null
    if (ws === null) return
    this._detach(ws)
    ws.onerror = () => {} // closing a connecting socket reports an error (the ws package throws without a listener)
    ws.close()
  }

  /** Reports a failed attempt that never had a connection to the machine, which schedules the next. */
  private _failed (err: unknown): void {
    clearTimeout(this._attemptTimer)
    this._dialErr = { err }
    this._step({ type: 'disconnected', conn: 0, err })
  }

  private _connect (id: number): void {
    let ws: WebSocketLike
    try {
      ws = new this._WS(this._url)
    } catch (err) {
      this._failed(err)
      return
    }
    ws.binaryType = 'arraybuffer'
    this._opening = ws
    let open = false
    ws.onopen = () => {
      clearTimeout(this._attemptTimer)
      this._opening = null
      open = true
      this._ws = ws
      this._step({ type: 'connected', conn: id })
    }
    ws.onmessage = (ev) => {
      const d = ev.data
      if (d instanceof ArrayBuffer) this._step({ type: 'recv', conn: id, data: new Uint8Array(d) })
      else if (ArrayBuffer.isView(d)) this._step({ type: 'recv', conn: id, data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) })
      // Text messages are not part of the protocol: ignored.
    }
    const gone = (err: unknown): void => {
      this._detach(ws)
      if (this._ws === ws) this._ws = null
      if (this._opening === ws) this._opening = null
      if (open) this._step({ type: 'disconnected', conn: id, err })
      else this._failed(err)
    }
    ws.onclose = (ev) => gone(new BetterSocketError('closed', `client: connection closed (${(ev as { code?: number }).code ?? 0})`))
    ws.onerror = () => gone(new Error('client: connection failed'))
  }

  private _detach (ws: WebSocketLike): void {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null
  }
}

/** Calls fn(ev); a listener's or handler's bug must not stop the client. */
function guard<T> (fn: (ev: T) => void, ev: T): void {
  try {
    fn(ev)
  } catch (err) {
    queueMicrotask(() => { throw err })
  }
}

/** Adds a named route, refusing an invalid name or a second handler, and returns its remover. */
function route<H> (routes: Map<string, H>, kind: string, name: string, h: H): () => void {
  // Lone surrogates cannot be sent as UTF-8, so no message can carry them.
  if (name === '' || !validText(name, MAX_NAME_LEN)) {
    throw new TypeError(`bettersocket: a ${kind} name must be 1 to ${MAX_NAME_LEN} bytes of UTF-8`)
  }
  if (routes.has(name)) throw new TypeError(`bettersocket: the ${kind} ${JSON.stringify(name)} already has a handler`)
  routes.set(name, h)
  return () => {
    if (routes.get(name) === h) routes.delete(name)
  }
}

/**
 * Connects to a better-socket server at url (ws:// or wss://) and resolves
 * with the client once its first session has started. A failed connection
 * attempt (a connectFailed event) is retried with the same jittered backoff
 * as a reconnect until signal aborts, so a client started before its server
 * comes up connects when the server does; the rejection on signal names the
 * last attempt's failure. With options.failFast the first failed attempt
 * rejects with its error instead. A server that refuses the client (its
 * authorization hook, a closed session) ends the client and rejects at once
 * with its CloseError, whatever failFast says.
 */
export async function connect<M = unknown> (url: string, opts: ClientOptions & CallOptions = {}): Promise<Client<M>> {
  const c = new Client<M>(url, opts)
  if (opts.signal?.aborted === true) {
    void c.close()
    throw aborted(opts.signal)
  }
  await new Promise<void>((resolve, reject) => {
    const off: Array<() => void> = []
    const done = (): void => { for (const f of off) f() }
    off.push(c.on('connected', () => { done(); resolve() }))
    off.push(c.on('closed', (ev) => { done(); reject(ev.error ?? closedErr()) }))
    let last: unknown
    off.push(c.on('connectFailed', (ev) => {
      last = ev.error
      if (opts.failFast !== true) return
      done()
      void c.close()
      reject(ev.error)
    }))
    const signal = opts.signal
    if (signal !== undefined) {
      const onAbort = (): void => {
        done()
        void c.close()
        const err = aborted(signal)
        if (last !== undefined) err.message += ` (last attempt: ${String(last)})`
        reject(err)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      off.push(() => signal.removeEventListener('abort', onAbort))
    }
  })
  return c
}
