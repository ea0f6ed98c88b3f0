// Wire protocol version 1: the frames, their codes and bounds, and the codec
// that turns them into bytes and back (DESIGN.md §3). The Go packages proto
// and codec are the reference; codec/testdata/conformance.json holds the
// golden bytes and the malformed messages both must agree on.
//
// CBOR is read and written by cborg; this file only lays frames out as
// arrays and checks, element by element, that what arrived has exactly the
// shape the protocol gives it (the Go decoder's checkShape and
// proto.Validate).

import { encode, encodeInto, Tokenizer, Type, type Token } from 'cborg'
import { utf8len } from './text.js'

/** The protocol version this client speaks. */
export const VERSION = 1

/** Frame types of wire protocol version 1. */
export const FrameType = {
  Hello: 1,
  Welcome: 2,
  Ack: 3,
  Heartbeat: 4,
  Data: 5,
  Request: 6,
  Response: 7,
  Close: 8,
  Join: 9,
  Leave: 10,
  Publish: 11
} as const
/** A frame type number. */
export type FrameType = (typeof FrameType)[keyof typeof FrameType]

/** Close codes: why a connection or session ended. */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  Policy: 1008,
  TooLarge: 1009,
  SessionExpired: 4000,
  Overloaded: 4001,
  HandshakeTimeout: 4002,
  IdleTimeout: 4003,
  UnsupportedVersion: 4004,
  Superseded: 4005,
  Security: 4006
} as const

/** Error codes of an error response; applications use 1000 and up. */
export const ErrorCode = {
  Internal: 1,
  Forbidden: 2,
  NotFound: 3,
  BadRequest: 4,
  Unavailable: 5,
  Limit: 6,
  Application: 1000
} as const

/** Bounds on variable-length fields, as in Go's proto package. */
export const MAX_ROOM_LEN = 255
/** Bytes in a message's event name or a request's method name. */
export const MAX_NAME_LEN = 255
export const MAX_REASON_LEN = 255
export const MAX_TOKEN_LEN = 64
export const MAX_AUTH_LEN = 8 << 10
/** Largest heartbeat interval or idle timeout, in milliseconds (24 h). */
export const MAX_DURATION_MS = 24 * 3600 * 1000
/** The message size limit used when none is configured (1 MiB). */
export const DEFAULT_MAX_MESSAGE_SIZE = 1 << 20

/** Whether a client receiving this close code reconnects and resumes. */
export function resumable (code: number): boolean {
  return code === CloseCode.GoingAway || code === CloseCode.IdleTimeout ||
    code === CloseCode.HandshakeTimeout || code === CloseCode.Overloaded
}

/** What a receiver announces about itself in HELLO and WELCOME. */
export interface Limits { maxMessageSize: number, maxInflight: number, maxRequests: number }
/** What HELLO carries to resume a session. */
export interface Resume { id: Uint8Array, token: Uint8Array | null, ack: number, attempt: number }
/** An error response's error. */
export interface WireError { code: number, message: string }

export interface Hello { type: 1, version: number, resume: Resume | null, auth: Uint8Array | null, limits: Limits }
export interface Welcome {
  type: 2, version: number, id: Uint8Array, token: Uint8Array | null,
  heartbeatMs: number, idleTimeoutMs: number, resumed: boolean, ack: number, limits: Limits
}
export interface Ack { type: 3, ack: number }
export interface Heartbeat { type: 4, ack: number, echo: number }
/** A message; name is its event name, '' for an unnamed one (sent without the element). */
export interface Data { type: 5, seq: number, ack: number, payload: Uint8Array | null, room: string, name: string }
/** A request; name is its method name, '' for an unnamed one. */
export interface Request { type: 6, seq: number, ack: number, id: number, payload: Uint8Array | null, name: string }
export interface Response { type: 7, seq: number, ack: number, id: number, payload: Uint8Array | null, error: WireError | null }
export interface Close { type: 8, code: number, reason: string }
export interface Join { type: 9, seq: number, ack: number, id: number, room: string }
export interface Leave { type: 10, seq: number, ack: number, id: number, room: string }
/** A client's message to the other members of room, answered by a RESPONSE with id. */
export interface Publish { type: 11, seq: number, ack: number, id: number, room: string, name: string, payload: Uint8Array | null }
/** One protocol frame. */
export type Frame = Hello | Welcome | Ack | Heartbeat | Data | Request | Response | Close | Join | Leave | Publish

/** The kinds of [DecodeError], as the Go codec's sentinel errors. */
export type DecodeErrorKind = 'too-large' | 'empty' | 'malformed' | 'unknown-type' | 'trailing-bytes'

/** Why a message could not be decoded. */
export class DecodeError extends Error {
  /** What went wrong, in the Go codec's terms. */
  readonly kind: DecodeErrorKind
  /** Byte offset in the message where the bad frame starts. */
  readonly offset: number
  constructor (kind: DecodeErrorKind, offset: number, detail: string) {
    super(`codec: ${kind.replace('-', ' ')} at offset ${offset}${detail === '' ? '' : ': ' + detail}`)
    this.name = 'DecodeError'
    this.kind = kind
    this.offset = offset
  }
}

function limitsArray (l: Limits): number[] {
  return [l.maxMessageSize, l.maxInflight, l.maxRequests]
}

function layout (f: Frame): unknown[] {
  switch (f.type) {
    case 1: return [1, f.version, f.resume === null ? null : [f.resume.id, f.resume.token, f.resume.ack, f.resume.attempt], f.auth, limitsArray(f.limits)]
    case 2: return [2, f.version, f.id, f.token, f.heartbeatMs, f.idleTimeoutMs, f.resumed, f.ack, limitsArray(f.limits)]
    case 3: return [3, f.ack]
    case 4: return [4, f.ack, f.echo]
    case 5: return named([5, f.seq, f.ack, f.payload, f.room], f.name)
    case 6: return named([6, f.seq, f.ack, f.id, f.payload], f.name)
    case 7: return [7, f.seq, f.ack, f.id, f.payload, f.error === null ? null : [f.error.code, f.error.message]]
    case 8: return [8, f.code, f.reason]
    case 9: case 10: return [f.type, f.seq, f.ack, f.id, f.room]
    case 11: return named([11, f.seq, f.ack, f.id, f.room, f.payload], f.name)
  }
}

// A name is the optional last element, present only when it is not empty:
// one encoding per frame.
function named (a: unknown[], name: string): unknown[] {
  if (name !== '') a.push(name)
  return a
}

/** Encodes one frame. Frames are not validated here; the receiver validates. */
export function encodeFrame (f: Frame): Uint8Array {
  return encode(layout(f))
}

/**
 * Encodes one frame into dest and returns its length in bytes, or -1 when
 * dest is too small for it (nothing else is then to be relied on in dest).
 */
export function encodeFrameInto (f: Frame, dest: Uint8Array): number {
  try {
    return encodeInto(layout(f), dest).written
  } catch (err) {
    if (err instanceof Error && err.message.includes('too small')) return -1 // cborg's words for it
    throw err
  }
}

/** Joins encoded frames into one transport message (a CBOR sequence). */
export function concat (parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  n = 0
  for (const p of parts) { out.set(p, n); n += p.length }
  return out
}

// Element schemas, as the Go codec's shape table: u unsigned integer, b byte
// string, B byte string or null, t text string, f boolean, L limits [u u u],
// R resume [b B u u] or null, E error [u t] or null.
// DATA, REQUEST and PUBLISH have a named form with one more element, a
// text string (the name); the Go codec's hasName.
const shapes = ['', 'uuRBL', 'uubBuufuL', 'uu', 'uuu', 'uuuBt', 'uuuuB', 'uuuuBE', 'uut', 'uuuut', 'uuuut', 'uuuutB']
const hasName = (t: number): boolean => t === 5 || t === 6 || t === 11
const subShapes: Record<string, string> = { L: 'uuu', R: 'bBuu', E: 'ut' }

const tokOpts = { allowIndefinite: false, allowUndefined: false, allowBigInt: true, retainStringBytes: true }
const utf8 = new TextDecoder('utf-8', { fatal: true })

class Malformed extends Error {}

type Value = number | Uint8Array | string | boolean | null | Value[]

function readItem (tk: Tokenizer, kind: string, i: number): Value {
  const t: Token = tk.next()
  const ty = t.type
  const fail = (want: string): never => {
    throw new Malformed(`element ${i}: want ${want}, got ${ty.name}`)
  }
  switch (kind) {
    case 'u':
      if (ty !== Type.uint) fail('unsigned integer')
      if (typeof t.value !== 'number') {
        throw new Malformed(`element ${i}: integer ${String(t.value)} is beyond 2^53-1, which this client does not support`)
      }
      return t.value as number
    case 'b': case 'B':
      // cborg's byte strings are copies already (Uint8Array.slice), not
      // views of the message.
      if (ty === Type.bytes) return t.value as Uint8Array
      if (kind === 'B' && ty === Type.null) return null
      return fail('byte string')
    case 't':
      if (ty !== Type.string) fail('text string')
      try {
        utf8.decode(t.byteValue as Uint8Array)
      } catch {
        throw new Malformed(`element ${i}: text is not valid UTF-8`)
      }
      return t.value as string
    case 'f':
      if (ty === Type.true) return true
      if (ty === Type.false) return false
      return fail('boolean')
    default: {
      if (kind !== 'L' && ty === Type.null) return null
      const sub = subShapes[kind] as string
      if (ty !== Type.array || t.value !== sub.length) fail(`array of ${sub.length}`)
      const out: Value[] = []
      for (let j = 0; j < sub.length; j++) out.push(readItem(tk, sub[j] as string, j))
      return out
    }
  }
}

function lim (v: Value, i: number, max: number): number {
  if ((v as number) > max) throw new Malformed(`element ${i}: ${v as number} overflows its field`)
  return v as number
}

function toLimits (v: Value): Limits {
  const a = v as number[]
  return { maxMessageSize: lim(a[0] as number, 0, 0xffffffff), maxInflight: lim(a[1] as number, 1, 0xffffffff), maxRequests: lim(a[2] as number, 2, 0xffffffff) }
}


function text (what: string, s: string, max: number): string {
  // A UTF-16 unit takes at most 3 bytes of UTF-8: short strings need no count.
  if (s.length * 3 > max && utf8len(s) > max) throw new Malformed(`invalid frame: ${what} of ${utf8len(s)} bytes exceeds ${max}`)
  return s
}

function seq (s: number): number {
  if (s === 0) throw new Malformed('invalid frame: seq 0')
  return s
}

function duration (ms: number, what: string): number {
  if (ms < 1 || ms > MAX_DURATION_MS) throw new Malformed(`invalid frame: ${what} of ${ms} ms out of range`)
  return ms
}

function id16 (b: Uint8Array): Uint8Array {
  if (b.length !== 16) throw new Malformed(`client id of ${b.length} bytes, want 16`)
  return b
}

function maxBytes (b: Uint8Array | null, max: number, what: string): Uint8Array | null {
  if (b !== null && b.length > max) throw new Malformed(`invalid frame: ${what} of ${b.length} bytes exceeds ${max}`)
  return b
}

function room (r: string, empty: boolean): string {
  if (!empty && r === '') throw new Malformed('invalid frame: empty room')
  return text('room', r, MAX_ROOM_LEN)
}

function name (v: Value | undefined): string {
  if (v === undefined) return ''
  if (v === '') throw new Malformed('empty name in the named form')
  return text('name', v as string, MAX_NAME_LEN)
}

function build (t: number, e: Value[]): Frame {
  const u = (i: number): number => e[i] as number
  const b = (i: number): Uint8Array | null => e[i] as Uint8Array | null
  const s = (i: number): string => e[i] as string
  switch (t) {
    case 1: {
      const r = e[2] as Value[] | null
      return {
        type: 1,
        version: u(1),
        resume: r === null ? null : { id: id16(r[0] as Uint8Array), token: maxBytes(r[1] as Uint8Array | null, MAX_TOKEN_LEN, 'resume token'), ack: r[2] as number, attempt: r[3] as number },
        auth: maxBytes(b(3), MAX_AUTH_LEN, 'auth'),
        limits: toLimits(e[4] as Value)
      }
    }
    case 2: {
      const id = id16(e[2] as Uint8Array)
      if (id.every(x => x === 0)) throw new Malformed('invalid frame: zero client id')
      return {
        type: 2,
        version: u(1),
        id,
        token: maxBytes(b(3), MAX_TOKEN_LEN, 'token'),
        heartbeatMs: duration(u(4), 'heartbeat interval'),
        idleTimeoutMs: duration(u(5), 'idle timeout'),
        resumed: e[6] as boolean,
        ack: u(7),
        limits: toLimits(e[8] as Value)
      }
    }
    case 3: return { type: 3, ack: u(1) }
    case 4: return { type: 4, ack: u(1), echo: u(2) }
    case 5: return { type: 5, seq: seq(u(1)), ack: u(2), payload: b(3), room: room(s(4), true), name: name(e[5]) }
    case 6: return { type: 6, seq: seq(u(1)), ack: u(2), id: u(3), payload: b(4), name: name(e[5]) }
    case 11: return { type: 11, seq: seq(u(1)), ack: u(2), id: u(3), room: room(s(4), false), name: name(e[6]), payload: b(5) }
    case 7: {
      const er = e[5] as Value[] | null
      const f: Response = { type: 7, seq: seq(u(1)), ack: u(2), id: u(3), payload: b(4), error: null }
      if (er !== null) {
        if (f.payload !== null) throw new Malformed('invalid frame: both payload and error')
        f.error = { code: lim(er[0] as number, 0, 0xffffffff), message: text('error message', er[1] as string, MAX_REASON_LEN) }
      }
      return f
    }
    case 8: return { type: 8, code: lim(u(1), 1, 0xffff), reason: text('reason', s(2), MAX_REASON_LEN) }
    default: return { type: t as 9 | 10, seq: seq(u(1)), ack: u(2), id: u(3), room: room(s(4), false) }
  }
}

/**
 * Decodes the frame that starts at off in msg and returns it with the offset
 * just after it. Errors are [DecodeError]s.
 */
function decodeAt (msg: Uint8Array, off: number): [Frame, number] {
  // The array header and the type byte are read directly, as the Go
  // decoder's peekType does, so that the kinds of error agree.
  if (msg.length - off < 2) throw new DecodeError('malformed', off, 'unexpected EOF')
  const h = msg[off] as number
  if (h >> 5 !== 4) throw new DecodeError('malformed', off, `frame is not a CBOR array (initial byte 0x${hex2(h)})`)
  if ((h & 0x1f) > 23) throw new DecodeError('malformed', off, `array header 0x${hex2(h)} is not a frame`)
  const t = msg[off + 1] as number
  if (t >> 5 !== 0 || (t & 0x1f) > 23 || t < 1 || t > 11) throw new DecodeError('unknown-type', off, `type byte 0x${hex2(t)}`)
  let schema = shapes[t] as string
  if (hasName(t) && (h & 0x1f) === schema.length + 1) schema += 't'
  // A Node.js Buffer's slice is a view, not a copy: cborg must see a plain
  // Uint8Array so that the byte strings it returns are copies.
  const plain = msg.constructor === Uint8Array ? msg : new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength)
  const tk = new Tokenizer(plain.subarray(off), tokOpts)
  try {
    const head = tk.next()
    if (head.value !== schema.length) throw new Malformed(`${head.value as number} elements, want ${schema.length}`)
    const elems: Value[] = []
    for (let i = 0; i < schema.length; i++) elems.push(readItem(tk, schema[i] as string, i))
    return [build(t, elems), off + tk.pos()]
  } catch (err) {
    // cborg reports truncation, huge lengths and forbidden encodings with
    // its own errors; all of them make the frame malformed.
    const why = err instanceof Error ? err.message : String(err)
    throw new DecodeError('malformed', off, why)
  }
}

function hex2 (n: number): string { return n.toString(16).padStart(2, '0') }

/**
 * Decodes one transport message (a CBOR sequence of frames). It refuses a
 * message longer than maxMessageSize before reading anything.
 */
export function decodeMessage (msg: Uint8Array, maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE): Frame[] {
  checkMessage(msg, maxMessageSize)
  return [...frames(msg)]
}

/** Refuses an empty message or one over the size limit, as decodeMessage does. */
export function checkMessage (msg: Uint8Array, maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE): void {
  if (msg.length > maxMessageSize) throw new DecodeError('too-large', 0, `${msg.length} bytes, limit ${maxMessageSize}`)
  if (msg.length === 0) throw new DecodeError('empty', 0, '')
}

/**
 * Iterates over the frames of a message; the machine uses it to stop at the
 * first frame that ends the connection. Call checkMessage first.
 */
export function * frames (msg: Uint8Array): Generator<Frame> {
  let off = 0
  while (off < msg.length) {
    const [f, next] = decodeAt(msg, off)
    off = next
    yield f
  }
}

/** Decodes a message that must hold exactly one frame. */
export function decodeFrame (msg: Uint8Array, maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE): Frame {
  checkMessage(msg, maxMessageSize)
  const [f, next] = decodeAt(msg, 0)
  if (next < msg.length) throw new DecodeError('trailing-bytes', next, `${msg.length - next} bytes`)
  return f
}
