// The secure layer against Go's known-answer vectors
// (codec/secure/testdata/vectors.json, written by Go's TestKnownAnswers):
// with the same keys and the same random bytes, the client side must write
// the same handshake and sealed records, byte for byte, accept the server's,
// and reach the same handshake hash. Then what it must refuse, and how it
// names each refusal (Go's sentinels).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { secure, SecureError, keyPair, keyText, parseKey, generateKeyPair, type SecureConfig, type SecureConn, type SecureErrorKind, type SecureOptions } from '../src/secure.js'
import { fromHex, toHex, readJSON } from './util.js'

interface Vector {
  mode: 'psk' | 'server-key' | 'mutual'
  protocol: string
  psk?: string
  server_static_public?: string
  client_static_private?: string
  client_static_public?: string
  client_random: string
  handshake: Array<{ from: 'client' | 'server', record: string }>
  handshake_hash: string
  sealed: Array<{ from: 'client' | 'server', nonce: number, plaintext: string, record: string }>
}

const vectors = readJSON<{ vectors: Vector[] }>('codec/secure/testdata/vectors.json').vectors

function options (v: Vector): SecureOptions {
  switch (v.mode) {
    case 'psk': return { mode: 'psk', psk: fromHex(v.psk as string) }
    case 'server-key': return { mode: 'server-key', serverKey: fromHex(v.server_static_public as string) }
    case 'mutual': return { mode: 'mutual', serverKey: fromHex(v.server_static_public as string), privateKey: fromHex(v.client_static_private as string) }
  }
}

/** A random source that yields exactly b, once. */
function exactly (b: Uint8Array): (n: number) => Uint8Array {
  let left = b
  return n => {
    assert.ok(n <= left.length, `drew ${n} random bytes, ${left.length} left`)
    const out = left.slice(0, n)
    left = left.subarray(n)
    return out
  }
}

/** Opens v's client connection and runs its handshake; returns the connection. */
function handshake (v: Vector, cfg: SecureConfig = secure(options(v))): SecureConn {
  const conn = cfg.open(exactly(fromHex(v.client_random))) as SecureConn
  const [first, ...rest] = v.handshake
  assert.equal(toHex(conn.start()), first?.record, `${v.mode}: first handshake record`)
  for (let i = 0; i < rest.length; i++) {
    const r = rest[i] as Vector['handshake'][number]
    if (r.from === 'client') continue // written as the answer to the server's record before it
    const got = conn.read(fromHex(r.record))
    assert.equal(got.err, null, `${v.mode}: server handshake record ${i + 1}: ${String(got.err)}`)
    assert.equal(got.rest.length, 0)
    const next = rest[i + 1]
    assert.equal(got.reply === null ? null : toHex(got.reply), next?.from === 'client' ? next.record : null, `${v.mode}: answer to server record ${i + 1}`)
  }
  assert.ok(conn.established(), `${v.mode}: established`)
  return conn
}

test('secure: the known-answer vectors, byte for byte', () => {
  assert.deepEqual(vectors.map(v => v.mode), ['psk', 'server-key', 'mutual'])
  for (const v of vectors) {
    const conn = handshake(v)
    assert.equal(toHex(conn.handshakeHash() as Uint8Array), v.handshake_hash, `${v.mode}: handshake hash`)
    for (const s of v.sealed) {
      if (s.from === 'client') {
        assert.equal(toHex(conn.seal(fromHex(s.plaintext))), s.record, `${v.mode}: client sealed nonce ${s.nonce}`)
      } else {
        const got = conn.read(fromHex(s.record))
        assert.equal(got.err, null, `${v.mode}: server sealed nonce ${s.nonce}: ${String(got.err)}`)
        assert.equal(toHex(got.plain as Uint8Array), s.plaintext)
      }
    }
  }
})

test('secure: the client derives its static public key as Go does', () => {
  const v = vectors.find(v => v.mode === 'mutual') as Vector
  const kp = keyPair(fromHex(v.client_static_private as string))
  assert.equal(toHex(kp.publicKey), v.client_static_public)
})

function refused (got: { err: SecureError | null }, kind: SecureErrorKind, message?: string): void {
  assert.ok(got.err instanceof SecureError, `want a ${kind} error, got ${String(got.err)}`)
  assert.equal(got.err.kind, kind, got.err.message)
  assert.equal(got.err.code, 'security')
  if (message !== undefined) assert.equal(got.err.message, message)
}

function flip (hex: string, at: number): Uint8Array {
  const b = fromHex(hex)
  b[at] = (b[at] as number) ^ 1
  return b
}

test('secure: a tampered or foreign handshake names the key that does not match', () => {
  for (const v of vectors) {
    const want = v.mode === 'psk' ? 'wrong-psk' : 'wrong-server-key'
    const server = v.handshake[1]?.record as string
    // A flipped bit in the server's ephemeral key, or in its tag.
    for (const at of [4, server.length / 2 - 1]) {
      const conn = secure(options(v)).open(exactly(fromHex(v.client_random)))
      conn.start()
      refused(conn.read(flip(server, at)), want)
    }
    // Another key on this side: the server's answer does not verify.
    const other = generateKeyPair().publicKey
    const opts: SecureOptions = v.mode === 'psk' ? { mode: 'psk', psk: other } : { ...options(v), serverKey: other }
    const conn = secure(opts).open(exactly(fromHex(v.client_random)))
    conn.start()
    refused(conn.read(fromHex(server)), want, v.mode === 'psk' ? 'secure: wrong pre-shared key or tampered handshake' : 'secure: wrong server key or tampered handshake')
    // Cut short: the server's ephemeral key is incomplete.
    const short = secure(options(v)).open(exactly(fromHex(v.client_random)))
    const first = short.start()
    const cut = fromHex(server).slice(0, 20)
    new DataView(cut.buffer).setUint16(2, 16)
    refused(short.read(cut), 'truncated', 'secure: truncated message: handshake message')
    assert.equal(first.length, fromHex(v.handshake[0]?.record as string).length)
  }
})

test('secure: what the layer refuses on an established connection', () => {
  const v = vectors[0] as Vector
  const serverSealed = v.sealed.find(s => s.from === 'server') as Vector['sealed'][number]
  const clientSealed = v.sealed.find(s => s.from === 'client') as Vector['sealed'][number]
  const conn = handshake(v)
  // A duplicate of the server's handshake record: refused, and nothing to resend (the client's
  // answer, in NN, was its first record, which the server already answered).
  const dup = conn.read(fromHex(v.handshake[1]?.record as string))
  refused(dup, 'replay', 'secure: replayed message: handshake message')
  assert.equal(dup.reply, null)
  assert.equal(conn.resend(), null)
  // A flipped bit in a sealed record's body, and in its header (the associated data).
  refused(conn.read(flip(serverSealed.record, 20)), 'auth', 'secure: message authentication failed')
  refused(conn.read(flip(serverSealed.record, 8)), 'auth')
  // The record once, then again.
  assert.equal(conn.read(fromHex(serverSealed.record)).err, null)
  refused(conn.read(fromHex(serverSealed.record)), 'replay', 'secure: replayed message: nonce 0')
  // The client's own record reflected back.
  refused(conn.read(fromHex(clientSealed.record)), 'reflected', 'secure: reflected message: a record of this side\'s own direction')
  // Plaintext, another mode, truncation, garbage.
  refused(conn.read(Uint8Array.of(0x82, 0x03, 0x00)), 'downgrade', 'secure: encryption required: the peer sent plaintext')
  refused(conn.read(Uint8Array.of(0xe1, 0x03, 0x00, 0x00)), 'downgrade', 'secure: encryption required: the peer offers mode mutual, this side requires psk')
  refused(conn.read(Uint8Array.of(0xe1, 0x01, 0x01, 0x01)), 'malformed', 'secure: malformed record: handshake message of 257 bytes')
  refused(conn.read(fromHex(serverSealed.record).subarray(0, 12)), 'truncated', 'secure: truncated message: record header')
  refused(conn.read(fromHex(serverSealed.record).subarray(0, 30)), 'truncated', 'secure: truncated message: sealed record')
  refused(conn.read(new Uint8Array(0)), 'truncated', 'secure: truncated message: empty message')
  refused(conn.read(Uint8Array.of(0x00)), 'malformed', 'secure: malformed record: record kind 0x00')
  // Which of them a datagram link drops and carries on.
  const kinds: SecureErrorKind[] = ['wrong-psk', 'wrong-server-key', 'handshake', 'auth', 'replay', 'reflected', 'truncated', 'downgrade', 'early', 'malformed', 'exhausted', 'config']
  assert.deepEqual(kinds.filter(k => new SecureError(k).droppable), ['auth', 'replay', 'reflected', 'early'])
  const wrapped = new SecureError('replay', 'nonce 7').within('session')
  assert.equal(wrapped.message, 'session: secure: replayed message: nonce 7')
  assert.equal(wrapped.within('outer').message, 'outer: session: secure: replayed message: nonce 7')
  assert.equal(wrapped.kind, 'replay')
})

test('secure: records join in one message; rest is what follows each', () => {
  const v = vectors[2] as Vector // mutual: the client's third handshake message and its sealed HELLO travel together
  const conn = handshake(v)
  const server = v.sealed.filter(s => s.from === 'server').map(s => fromHex(s.record))
  const joined = new Uint8Array([...server[0] as Uint8Array, 0x00])
  const got = conn.read(joined)
  assert.equal(got.err, null)
  assert.deepEqual([...got.rest], [0x00])
})

test('secure: a sealed record before the handshake completed is early; a lost answer is resent', () => {
  const v = vectors[2] as Vector
  const conn = secure(options(v)).open(exactly(fromHex(v.client_random)))
  const first = conn.start()
  assert.deepEqual(conn.resend(), first) // no answer yet: resend the first message
  const sealed = v.sealed.find(s => s.from === 'server') as Vector['sealed'][number]
  refused(conn.read(fromHex(sealed.record)), 'early', 'secure: sealed message before the handshake completed')
  const answer = conn.read(fromHex(v.handshake[1]?.record as string))
  assert.equal(answer.err, null)
  const third = answer.reply as Uint8Array
  assert.equal(toHex(third), v.handshake[2]?.record)
  assert.deepEqual(conn.resend(), third) // XK: the client's final message may be lost; it goes again
  const again = conn.read(fromHex(v.handshake[1]?.record as string))
  refused(again, 'replay')
  assert.deepEqual(again.reply, third)
})

test('secure: configuration is checked when it is made', () => {
  const pub = generateKeyPair().publicKey
  const bad: Array<[SecureOptions, string]> = [
    [{ mode: 'psk' }, 'secure: invalid configuration: psk mode needs a pre-shared key'],
    [{ mode: 'psk', psk: new Uint8Array(32) }, 'secure: invalid configuration: psk mode needs a pre-shared key'],
    [{ mode: 'psk', psk: new Uint8Array(31) }, 'secure: invalid configuration: a pre-shared key is 32 bytes, got 31'],
    [{ mode: 'server-key' }, 'secure: invalid configuration: server-key mode needs the server\'s public key on the client'],
    [{ mode: 'mutual', serverKey: pub }, 'secure: invalid configuration: mutual mode needs this side\'s static key pair'],
    [{ mode: 'mutual', serverKey: 'not a key', privateKey: pub }, 'secure: invalid configuration: a public key is 44 characters of standard base64, 32 bytes'],
    [{ mode: 'none' as 'psk' }, 'secure: invalid configuration: unknown mode none (psk, server-key, mutual)'],
    [{ mode: 'server-key', serverKey: Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0)) }, 'secure: invalid configuration: the server\'s public key is not a usable X25519 key']
  ]
  for (const [opts, msg] of bad) {
    assert.throws(() => secure(opts), (e: unknown) => e instanceof SecureError && e.kind === 'config' && e.message === msg, JSON.stringify(opts))
  }
  // Keys as text, as Go prints them (standard base64); the text round-trips.
  const kp = generateKeyPair()
  assert.deepEqual(parseKey(keyText(kp.publicKey)), kp.publicKey)
  assert.equal(secure({ mode: 'mutual', serverKey: keyText(pub), privateKey: keyText(kp.privateKey) }).mode, 'mutual')
  assert.throws(() => parseKey(keyText(pub).replace(/=$/, 'A')), SecureError) // not canonical
})
