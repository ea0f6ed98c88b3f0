// The optional encryption layer, the TypeScript counterpart of Go's
// codec/secure, client side: a Noise handshake per connection before HELLO
// (X25519, ChaCha20-Poly1305, BLAKE2s, from the audited @noble libraries),
// then every transport message sealed with an explicit nonce. It is
// sans-I/O like the machine: records in, records out, randomness injected.
// Its own entry point (@bettersocket/client/secure) keeps the cryptography
// out of the bundle of an application that does not encrypt.
//
//	mode          Noise pattern   the client holds
//	'psk'         NNpsk0          the 32-byte pre-shared key
//	'server-key'  NK              the server's public key, pinned
//	'mutual'      XK              the server's public key and its own key pair
//
// Records, as Go writes them (the server is the responder):
//
//	handshake  e1 | mode (1 psk, 2 server-key, 3 mutual) | length (uint16 BE) | Noise message
//	sealed     kind (e2 client to server, e3 server to client) | nonce (uint64 BE) | length (uint32 BE) | ciphertext and tag
//
// A sealed record's 13-byte header is its associated data and its nonce the
// AEAD nonce (Noise's: 4 zero bytes, then the counter little-endian). The
// receiver accepts each nonce once, within a sliding window of 1,984
// behind the newest, so the layer works over links that lose, duplicate and
// reorder messages. Go's known-answer vectors (codec/secure/testdata) and
// the encrypted scenarios of the machine conformance suite prove that both
// sides produce the same bytes.

import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { montgomery } from '@noble/curves/abstract/montgomery.js'
import { pow } from '@noble/curves/abstract/modular.js'
import { blake2s } from '@noble/hashes/blake2.js'
import { hmac } from '@noble/hashes/hmac.js'
import { BetterSocketError } from './errors.js'
import { Window } from './window.js'

// X25519 (RFC 7748): @noble's Montgomery ladder, given the curve's field
// and its scalar clamping. @noble/curves/ed25519.js exports the same
// function, but computes public keys on the Edwards curve, which brought
// that curve's code into the bundle (6.9 KB gzipped, a third of this
// entry's) to save 0.8 ms per connection (a key pair took 0.4 ms there
// and takes 1.2 here, in Node 20). The ladder refuses low-order peer keys
// as the other does, and Go's known-answer vectors check it against Go's
// X25519.
const P25519 = 2n ** 255n - 19n
const x25519 = montgomery({
  P: P25519,
  type: 'x25519',
  powPminus2: (x: bigint) => pow(x, P25519 - 2n, P25519),
  adjustScalarBytes: (k: Uint8Array) => {
    k[0] = (k[0] as number) & 248
    k[31] = ((k[31] as number) & 127) | 64
    return k
  }
})

/** The handshakes of the secure layer; see [secure]. */
export type SecureMode = 'psk' | 'server-key' | 'mutual'

/** Why the secure layer refused something: Go's secure.Err* sentinels. */
export type SecureErrorKind =
  | 'wrong-psk' // the server's handshake does not verify under this pre-shared key (or was tampered with)
  | 'wrong-server-key' // the pinned key is not the server's (or the handshake was tampered with)
  | 'handshake' // a handshake message failed to verify for another reason
  | 'auth' // a sealed record failed authentication: a flipped bit or a forged record
  | 'replay' // a record arrived twice, or its nonce is too old for the window
  | 'reflected' // a record sealed by this side came back to it
  | 'truncated' // a record is shorter than its header says
  | 'downgrade' // plaintext, or another mode, where this mode is required
  | 'early' // a sealed record before the handshake completed
  | 'malformed' // not a record of this layer
  | 'exhausted' // 2^64-1 records sealed under one key
  | 'config' // the configuration is incomplete or inconsistent

const messages: Record<SecureErrorKind, string> = {
  'wrong-psk': 'secure: wrong pre-shared key or tampered handshake',
  'wrong-server-key': 'secure: wrong server key or tampered handshake',
  handshake: 'secure: handshake failed',
  auth: 'secure: message authentication failed',
  replay: 'secure: replayed message',
  reflected: 'secure: reflected message',
  truncated: 'secure: truncated message',
  downgrade: 'secure: encryption required',
  early: 'secure: sealed message before the handshake completed',
  malformed: 'secure: malformed record',
  exhausted: 'secure: nonces exhausted',
  config: 'secure: invalid configuration'
}

/**
 * An error of the secure layer (code 'security'), with the kind of failure.
 * Its message is Go's for the same failure and names nothing about keys.
 */
export class SecureError extends BetterSocketError {
  /** What the layer refused. */
  readonly kind: SecureErrorKind
  /**
   * Whether a datagram link drops the record and carries on, as Go's
   * secure.Droppable: duplicates and reordering are normal there, and a
   * well-framed forged or reflected record must not let whoever can inject
   * one end the connection. A stream link ends the connection on any error.
   */
  readonly droppable: boolean
  private readonly _detail: string
  private readonly _context: string
  constructor (kind: SecureErrorKind, detail = '', context = '') {
    super('security', (context === '' ? '' : context + ': ') + messages[kind] + (detail === '' ? '' : ': ' + detail))
    this.name = 'SecureError'
    this.kind = kind
    this.droppable = kind === 'replay' || kind === 'early' || kind === 'auth' || kind === 'reflected'
    this._detail = detail
    this._context = context
  }

  /** The same error, its message prefixed with context (as Go's fmt.Errorf("context: %w", err)). */
  within (context: string): SecureError {
    return new SecureError(this.kind, this._detail, this._context === '' ? context : context + ': ' + this._context)
  }
}

/** The length of every key: X25519 private and public keys, pre-shared keys. */
export const KEY_LEN = 32
/** What sealing adds to a transport message: the record header and the tag. */
export const OVERHEAD = 13 + 16

const KIND_HANDSHAKE = 0xe1
const KIND_CLIENT_SEALED = 0xe2
const KIND_SERVER_SEALED = 0xe3
const HANDSHAKE_HEADER = 4
const SEALED_HEADER = 13
const TAG_LEN = 16
const MAX_HANDSHAKE = 256
const MODE_BYTE: Record<SecureMode, number> = { psk: 1, 'server-key': 2, mutual: 3 }
const PROTOCOL: Record<SecureMode, string> = {
  psk: 'Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s',
  'server-key': 'Noise_NK_25519_ChaChaPoly_BLAKE2s',
  mutual: 'Noise_XK_25519_ChaChaPoly_BLAKE2s'
}
const PROLOGUE = new TextEncoder().encode('bettersocket secure v1')

/** A key: 32 bytes, or their standard base64 (44 characters), as Go and WireGuard write keys. */
export type Key = Uint8Array | string

/** A static X25519 key pair. */
export interface KeyPair { privateKey: Uint8Array, publicKey: Uint8Array }

/**
 * What the client's secure layer needs, by mode:
 *
 *	'psk'         psk
 *	'server-key'  serverKey
 *	'mutual'      serverKey, privateKey (its public key is derived)
 */
export interface SecureOptions {
  mode: SecureMode
  /** The pre-shared key ('psk'). */
  psk?: Key
  /** The server's public key, pinned ('server-key', 'mutual'). */
  serverKey?: Key
  /** This client's private key ('mutual'). */
  privateKey?: Key
}

/**
 * A validated secure configuration for [MachineConfig.secure] and the
 * client's options; made by [secure]. Its members are for the machine.
 */
export interface SecureConfig {
  /** The handshake. */
  readonly mode: SecureMode
  /** What sealing adds to a transport message ([OVERHEAD]). */
  readonly overhead: number
  /** A new connection's secure layer, drawing its ephemeral key from random. */
  open (random: (n: number) => Uint8Array): SecureLayer
}

/**
 * The secure layer of one connection as the machine drives it: start()
 * for the first handshake record, read() for each record that arrives,
 * seal() for each message once established() (see [SecureConn]).
 */
export interface SecureLayer {
  start (): Uint8Array
  read (msg: Uint8Array): ReadResult
  seal (plain: Uint8Array): Uint8Array
  established (): boolean
  resend (): Uint8Array | null
}

/**
 * Checks opts and returns the configuration of an encrypted client: every
 * connection then starts with a Noise handshake and carries only sealed
 * records. A server with another mode, or none, refuses the client and the
 * client refuses it (CLOSE security, or a [SecureError] of kind
 * 'downgrade'). Throws a [SecureError] of kind 'config' naming what is
 * missing or malformed.
 */
export function secure (opts: SecureOptions): SecureConfig {
  const mode = opts.mode
  if (!(mode in PROTOCOL)) throw new SecureError('config', `unknown mode ${String(mode)} (psk, server-key, mutual)`)
  let psk: Uint8Array | null = null
  let serverKey: Uint8Array | null = null
  let pair: KeyPair | null = null
  if (mode === 'psk') {
    psk = key(opts.psk, 'pre-shared', 'psk mode needs a pre-shared key')
  } else {
    serverKey = key(opts.serverKey, 'public', `${mode} mode needs the server's public key on the client`)
    try {
      // A key of low order gives every exchange the same all-zero secret;
      // refused here rather than on each connection attempt.
      x25519.getSharedSecret(PROBE, serverKey)
    } catch {
      throw new SecureError('config', 'the server\'s public key is not a usable X25519 key')
    }
    if (mode === 'mutual') pair = keyPair(key(opts.privateKey, 'private', 'mutual mode needs this side\'s static key pair'))
  }
  return {
    mode,
    overhead: OVERHEAD,
    open: random => new SecureConn(mode, psk, serverKey, pair, random)
  }
}

const PROBE = new Uint8Array(KEY_LEN).fill(7)

function key (k: Key | undefined, what: string, missing: string): Uint8Array {
  if (k === undefined) throw new SecureError('config', missing)
  const b = typeof k === 'string' ? parseKey(k, what) : k
  if (b.length !== KEY_LEN) throw new SecureError('config', `a ${what} key is ${KEY_LEN} bytes, got ${b.length}`)
  if (b.every(x => x === 0)) throw new SecureError('config', missing)
  return b.slice()
}

/** Parses a key's text: standard base64 of 32 bytes, 44 characters. */
export function parseKey (text: string, what = ''): Uint8Array {
  const name = what === '' ? 'key' : `${what} key`
  let b: Uint8Array | null = null
  if (text.length === 44) {
    try {
      b = Uint8Array.from(atob(text), c => c.charCodeAt(0))
    } catch {}
  }
  if (b === null || b.length !== KEY_LEN || keyText(b) !== text) {
    throw new SecureError('config', `a ${name} is 44 characters of standard base64, ${KEY_LEN} bytes`)
  }
  return b
}

/** The text of a key: standard base64, 44 characters. */
export function keyText (k: Uint8Array): string {
  let s = ''
  for (const x of k) s += String.fromCharCode(x)
  return btoa(s)
}

/** The key pair of a private key. */
export function keyPair (privateKey: Key): KeyPair {
  const priv = typeof privateKey === 'string' ? parseKey(privateKey, 'private') : privateKey.slice()
  if (priv.length !== KEY_LEN) throw new SecureError('config', `a private key is ${KEY_LEN} bytes, got ${priv.length}`)
  return { privateKey: priv, publicKey: x25519.getPublicKey(priv) }
}

/** A new key pair, from random (crypto.getRandomValues by default). */
export function generateKeyPair (random: (n: number) => Uint8Array = n => globalThis.crypto.getRandomValues(new Uint8Array(n))): KeyPair {
  return keyPair(random(KEY_LEN))
}

// ---- Noise (the initiator's side of NNpsk0, NK and XK) ----

const EMPTY = new Uint8Array(0)

function concat (...parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  n = 0
  for (const p of parts) {
    out.set(p, n)
    n += p.length
  }
  return out
}

/** Noise's nonce: 4 zero bytes, then the 64-bit counter little-endian. */
function nonce12 (n: bigint): Uint8Array {
  const b = new Uint8Array(12)
  new DataView(b.buffer).setBigUint64(4, n, true)
  return b
}

/** HKDF with HMAC-BLAKE2s, as the Noise specification defines it. */
function hkdf (ck: Uint8Array, ikm: Uint8Array, n: 2 | 3): Uint8Array[] {
  const temp = hmac(blake2s, ck, ikm)
  const o1 = hmac(blake2s, temp, Uint8Array.of(1))
  const o2 = hmac(blake2s, temp, concat(o1, Uint8Array.of(2)))
  if (n === 2) return [o1, o2]
  return [o1, o2, hmac(blake2s, temp, concat(o2, Uint8Array.of(3)))]
}

class Symmetric {
  h: Uint8Array
  ck: Uint8Array
  k: Uint8Array | null = null
  n = 0n
  constructor (protocol: string) {
    const name = new TextEncoder().encode(protocol)
    if (name.length <= 32) {
      this.h = new Uint8Array(32)
      this.h.set(name)
    } else {
      this.h = blake2s(name)
    }
    this.ck = this.h
  }

  mixHash (data: Uint8Array): void { this.h = blake2s(concat(this.h, data)) }
  mixKey (ikm: Uint8Array): void {
    const [ck, k] = hkdf(this.ck, ikm, 2) as [Uint8Array, Uint8Array]
    this.ck = ck
    this.k = k
    this.n = 0n
  }

  mixKeyAndHash (ikm: Uint8Array): void {
    const [ck, h, k] = hkdf(this.ck, ikm, 3) as [Uint8Array, Uint8Array, Uint8Array]
    this.ck = ck
    this.mixHash(h)
    this.k = k
    this.n = 0n
  }

  encryptAndHash (plain: Uint8Array): Uint8Array {
    const ct = this.k === null ? plain : chacha20poly1305(this.k, nonce12(this.n++), this.h).encrypt(plain)
    this.mixHash(ct)
    return ct
  }

  /** Throws when the ciphertext does not authenticate. */
  decryptAndHash (ct: Uint8Array): Uint8Array {
    const plain = this.k === null ? ct : chacha20poly1305(this.k, nonce12(this.n++), this.h).decrypt(ct)
    this.mixHash(ct)
    return plain
  }

  split (): [Uint8Array, Uint8Array] { return hkdf(this.ck, EMPTY, 2) as [Uint8Array, Uint8Array] }
}

/** Noise's error for a message shorter than its tokens: the record is truncated. */
class ShortMessage extends Error {}

/** The initiator's handshake state. */
class Handshake {
  private readonly _ss: Symmetric
  private readonly _mode: SecureMode
  private readonly _psk: Uint8Array | null
  private readonly _s: KeyPair | null
  private readonly _rs: Uint8Array | null
  private readonly _random: (n: number) => Uint8Array
  private _e: KeyPair | null = null
  private _re: Uint8Array | null = null
  /** The next message's index: even ones are written, odd ones read. */
  index = 0

  constructor (mode: SecureMode, psk: Uint8Array | null, s: KeyPair | null, rs: Uint8Array | null, random: (n: number) => Uint8Array) {
    this._mode = mode
    this._psk = psk
    this._s = s
    this._rs = rs
    this._random = random
    this._ss = new Symmetric(PROTOCOL[mode])
    this._ss.mixHash(PROLOGUE)
    if (rs !== null) this._ss.mixHash(rs) // NK, XK: the responder's static key is known beforehand
  }

  private _last (): boolean { return this.index === (this._mode === 'mutual' ? 2 : 1) }

  private _dh (priv: Uint8Array, pub: Uint8Array): Uint8Array { return x25519.getSharedSecret(priv, pub) }

  /** Writes the next message; the traffic keys when it is the last one. */
  write (): { msg: Uint8Array, keys: [Uint8Array, Uint8Array] | null } {
    const ss = this._ss
    const out: Uint8Array[] = []
    if (this.index === 0) {
      if (this._psk !== null) ss.mixKeyAndHash(this._psk) // psk0
      const e = keyPair(this._random(KEY_LEN))
      this._e = e
      out.push(e.publicKey)
      ss.mixHash(e.publicKey)
      if (this._psk !== null) ss.mixKey(e.publicKey)
      if (this._rs !== null) ss.mixKey(this._dh(e.privateKey, this._rs)) // es
    } else { // XK's third: s, se
      const s = this._s as KeyPair
      out.push(ss.encryptAndHash(s.publicKey))
      ss.mixKey(this._dh(s.privateKey, this._re as Uint8Array))
    }
    out.push(ss.encryptAndHash(EMPTY))
    const last = this._last()
    this.index++
    return { msg: concat(...out), keys: last ? ss.split() : null }
  }

  /**
   * Reads the responder's message (e, ee): its payload and the traffic
   * keys when it was the last one. Throws ShortMessage for a truncated
   * message, anything else when it does not verify.
   */
  read (msg: Uint8Array): { payload: Uint8Array, keys: [Uint8Array, Uint8Array] | null } {
    const ss = this._ss
    if (msg.length < KEY_LEN) throw new ShortMessage()
    const re = msg.slice(0, KEY_LEN)
    this._re = re
    ss.mixHash(re)
    if (this._psk !== null) ss.mixKey(re)
    ss.mixKey(this._dh((this._e as KeyPair).privateKey, re)) // ee
    const payload = ss.decryptAndHash(msg.subarray(KEY_LEN)) // a missing tag fails to verify, as in Go
    const last = this._last()
    this.index++
    return { payload, keys: last ? ss.split() : null }
  }

  hash (): Uint8Array { return this._ss.h }
}

// ---- the connection's layer ----

/** One direction's ChaCha20-Poly1305 with Noise's nonce encoding. */
function seal (key: Uint8Array, n: bigint, ad: Uint8Array, plain: Uint8Array): Uint8Array {
  return chacha20poly1305(key, nonce12(n), ad).encrypt(plain)
}

/** What [SecureConn.read] took off a message. */
export interface ReadResult {
  /** The opened plaintext of a sealed record; null for a handshake record or an error. */
  plain: Uint8Array | null
  /** The handshake record to send in answer; null when this side has nothing to say. */
  reply: Uint8Array | null
  /** What follows the record; valid after an error where the record's end is known. */
  rest: Uint8Array
  /** Why the record was refused; null when it was accepted. */
  err: SecureError | null
}

const MAX_NONCE = 2n ** 64n - 1n

/**
 * The secure layer of one connection, client side: the handshake, then the
 * sealed channel. A new connection gets a new one, with a fresh ephemeral
 * key. The machine drives it; applications configure it with [secure].
 */
export class SecureConn implements SecureLayer {
  private readonly _mode: SecureMode
  private _hs: Handshake | null
  private _lastIn: Uint8Array | null = null
  private _lastOut: Uint8Array | null = null
  private _finalOut = false
  private _done = false
  private _send: Uint8Array | null = null
  private _recv: Uint8Array | null = null
  private _next = 0n
  private readonly _win = new Window()
  private _hash: Uint8Array | null = null

  constructor (mode: SecureMode, psk: Uint8Array | null, serverKey: Uint8Array | null, pair: KeyPair | null, random: (n: number) => Uint8Array) {
    this._mode = mode
    this._hs = new Handshake(mode, psk, pair, serverKey, random)
  }

  /** The client's first handshake record, written before anything else on the connection. */
  start (): Uint8Array {
    if (this._lastOut !== null) throw new Error('secure: start is for a new connection only')
    return this._write()
  }

  private _write (): Uint8Array {
    const { msg, keys } = (this._hs as Handshake).write()
    const rec = new Uint8Array(HANDSHAKE_HEADER + msg.length)
    rec[0] = KIND_HANDSHAKE
    rec[1] = MODE_BYTE[this._mode]
    new DataView(rec.buffer).setUint16(2, msg.length)
    rec.set(msg, HANDSHAKE_HEADER)
    this._lastOut = rec
    if (keys !== null) {
      this._finalOut = true
      this._complete(keys)
    }
    return rec
  }

  private _complete (keys: [Uint8Array, Uint8Array]): void {
    this._send = keys[0] // initiator to responder
    this._recv = keys[1]
    this._hash = (this._hs as Handshake).hash()
    this._hs = null
    this._done = true
  }

  /** Whether the handshake is complete: seal works and sealed records are accepted. */
  established (): boolean { return this._done }

  /** The Noise handshake hash once the handshake is complete (channel binding); null before. */
  handshakeHash (): Uint8Array | null { return this._hash }

  /**
   * The handshake record a datagram link sends again while it waits for
   * the server: the last one this side wrote, unless the server's answer
   * to it already arrived. Null when there is nothing to resend.
   */
  resend (): Uint8Array | null {
    if (this._done && !this._finalOut) return null
    return this._lastOut
  }

  /**
   * Takes the first record off msg: for a handshake record it advances the
   * handshake and returns the record to send in answer, for a sealed one
   * its plaintext. As Go's Conn.Read, a duplicate handshake record fails
   * with 'replay' and also returns this side's answer to it, which a
   * datagram link sends again.
   */
  read (msg: Uint8Array): ReadResult {
    const fail = (kind: SecureErrorKind, detail = '', rest: Uint8Array = EMPTY): ReadResult =>
      ({ plain: null, reply: null, rest, err: new SecureError(kind, detail) })
    if (msg.length === 0) return fail('truncated', 'empty message')
    const k = msg[0] as number
    const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength)
    if (k >> 5 === 4) return fail('downgrade', 'the peer sent plaintext')
    if (k === KIND_HANDSHAKE) {
      if (msg.length < HANDSHAKE_HEADER) return fail('truncated', 'handshake header')
      const mode = msg[1] as number
      if (mode !== MODE_BYTE[this._mode]) {
        return fail('downgrade', `the peer offers mode ${modeName(mode)}, this side requires ${this._mode}`)
      }
      const n = view.getUint16(2)
      if (n > MAX_HANDSHAKE) return fail('malformed', `handshake message of ${n} bytes`)
      if (msg.length - HANDSHAKE_HEADER < n) return fail('truncated', 'handshake message')
      const rec = msg.subarray(0, HANDSHAKE_HEADER + n)
      const { reply, err } = this._handshake(rec)
      return { plain: null, reply, rest: msg.subarray(rec.length), err }
    }
    if (k === KIND_CLIENT_SEALED || k === KIND_SERVER_SEALED) {
      if (msg.length < SEALED_HEADER) return fail('truncated', 'record header')
      const n = view.getUint32(9)
      if (n > msg.length - SEALED_HEADER || n < TAG_LEN) return fail('truncated', 'sealed record')
      const end = SEALED_HEADER + n
      const rest = msg.subarray(end)
      if (k === KIND_CLIENT_SEALED) return fail('reflected', 'a record of this side\'s own direction', rest)
      if (!this._done) return fail('early', '', rest)
      const nonce = view.getBigUint64(1)
      if (!this._win.fresh(nonce)) return fail('replay', `nonce ${nonce}`, rest)
      let plain: Uint8Array
      try {
        plain = chacha20poly1305(this._recv as Uint8Array, nonce12(nonce), msg.subarray(0, SEALED_HEADER)).decrypt(msg.subarray(SEALED_HEADER, end))
      } catch {
        return fail('auth', '', rest)
      }
      this._win.mark(nonce)
      return { plain, reply: null, rest, err: null }
    }
    return fail('malformed', `record kind 0x${k.toString(16).padStart(2, '0')}`)
  }

  private _handshake (rec: Uint8Array): { reply: Uint8Array | null, err: SecureError | null } {
    if (this._lastIn !== null && equal(rec, this._lastIn)) {
      // This side's answer to it may have been lost: hand it out again.
      const again = !this._done || this._finalOut ? this._lastOut : null
      return { reply: again, err: new SecureError('replay', 'handshake message') }
    }
    if (this._done) return { reply: null, err: new SecureError('replay', 'handshake message after the handshake') }
    const hs = this._hs as Handshake
    let r: { payload: Uint8Array, keys: [Uint8Array, Uint8Array] | null }
    try {
      r = hs.read(rec.subarray(HANDSHAKE_HEADER))
    } catch (e) {
      if (e instanceof ShortMessage) return { reply: null, err: new SecureError('truncated', 'handshake message') }
      // The server's message depends on the pre-shared key, or on the pinned key.
      return { reply: null, err: new SecureError(this._mode === 'psk' ? 'wrong-psk' : 'wrong-server-key') }
    }
    if (r.payload.length !== 0) return { reply: null, err: new SecureError('malformed', 'handshake payload') }
    this._lastIn = rec.slice()
    if (r.keys !== null) {
      this._complete(r.keys)
      return { reply: null, err: null }
    }
    return { reply: this._write(), err: null }
  }

  /** Seals plain as one record under the next nonce. */
  seal (plain: Uint8Array): Uint8Array {
    if (!this._done) throw new Error('secure: seal before the handshake completed')
    if (this._next === MAX_NONCE) throw new SecureError('exhausted')
    const n = this._next++
    const rec = new Uint8Array(SEALED_HEADER + plain.length + TAG_LEN)
    const view = new DataView(rec.buffer)
    rec[0] = KIND_CLIENT_SEALED
    view.setBigUint64(1, n)
    view.setUint32(9, plain.length + TAG_LEN)
    rec.set(seal(this._send as Uint8Array, n, rec.subarray(0, SEALED_HEADER), plain), SEALED_HEADER)
    return rec
  }
}

function modeName (b: number): string {
  switch (b) {
    case 0: return 'off'
    case 1: return 'psk'
    case 2: return 'server-key'
    case 3: return 'mutual'
  }
  return `mode(${b})`
}


function equal (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
