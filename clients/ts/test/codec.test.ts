// Codec conformance: codec/testdata/conformance.json is written by the Go
// codec's tests (go test ./codec -run TestConformanceVectors -update). Every
// golden frame must encode to exactly its bytes and decode to exactly its
// value; every message the Go decoder refuses must be refused here too, with
// the same kind of error.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeFrame, decodeMessage, encodeFrame, encodeFrameInto, DecodeError, type Frame } from '../src/wire.js'
import { cbor } from '../src/payload.js'
import { fromHex, toHex, hexify, readJSON, unhexFrame } from './util.js'

interface Conformance {
  golden: Array<{ name: string, hex: string, frame: Record<string, unknown> }>
  refused: Array<{ hex: string, kind: string }>
}
const vectors = readJSON<Conformance>('codec/testdata/conformance.json')

test('every golden frame encodes byte-identically and decodes to its value', () => {
  assert.equal(vectors.golden.length, 18)
  for (const g of vectors.golden) {
    const frame = unhexFrame(g.frame) as unknown as Frame
    assert.equal(toHex(encodeFrame(frame)), g.hex, `encode ${g.name}`)
    assert.deepEqual(hexify(decodeFrame(fromHex(g.hex))), g.frame, `decode ${g.name}`)
  }
})

test('a message of several frames decodes in order', () => {
  const all = vectors.golden.map(g => fromHex(g.hex))
  const msg = new Uint8Array(all.reduce((n, b) => n + b.length, 0))
  let off = 0
  for (const b of all) { msg.set(b, off); off += b.length }
  const got = decodeMessage(msg)
  assert.deepEqual(got.map(f => hexify(f)), vectors.golden.map(g => g.frame))
})

test('every message the Go decoder refuses is refused, with the same kind', () => {
  assert.ok(vectors.refused.length >= 100, `${vectors.refused.length} refused messages`)
  for (const r of vectors.refused) {
    assert.throws(() => decodeFrame(fromHex(r.hex)), (err: unknown) => {
      assert.ok(err instanceof DecodeError, `${r.hex}: ${String(err)}`)
      assert.equal(err.kind, r.kind, `${r.hex}: ${err.message}`)
      return true
    }, r.hex)
  }
})

test('64-bit integers past 2^53-1 are refused, not rounded', () => {
  // ACK 2^53 and ACK 2^64-1.
  for (const h of ['82031b0020000000000000', '82031bffffffffffffffff']) {
    assert.throws(() => decodeFrame(fromHex(h)), /beyond 2\^53-1/)
  }
  assert.deepEqual(decodeFrame(fromHex('82031b001fffffffffffff')), { type: 3, ack: Number.MAX_SAFE_INTEGER })
})

test('the size limit is checked before anything is read', () => {
  const ack = fromHex('820301')
  const msg = new Uint8Array(301 * 3)
  for (let i = 0; i < 301; i++) msg.set(ack, 3 * i)
  assert.throws(() => decodeMessage(msg, 900), (e: unknown) => e instanceof DecodeError && e.kind === 'too-large')
  assert.equal(decodeMessage(msg.subarray(0, 900), 900).length, 300)
})

test('decoded byte strings are copies, not views of the message, even from a Node.js Buffer', () => {
  const payload = new Uint8Array([1, 2, 3])
  const msg = encodeFrame({ type: 5, seq: 1, ack: 0, payload, room: '', name: '' })
  for (const input of [msg, Buffer.from(msg)]) {
    const f = decodeFrame(input) as { payload: Uint8Array }
    input.fill(0)
    assert.deepEqual([...f.payload], [1, 2, 3])
  }
})

test('encodeFrameInto writes what encodeFrame returns, or says the buffer is too small', () => {
  const f: Frame = { type: 6, seq: 7, ack: 3, id: 9, payload: new Uint8Array(40).fill(5), name: 'quote' }
  const want = encodeFrame(f)
  const dest = new Uint8Array(want.length)
  assert.equal(encodeFrameInto(f, dest), want.length)
  assert.deepEqual(dest, want)
  assert.equal(encodeFrameInto(f, new Uint8Array(want.length - 1)), -1)
})

test('the CBOR payload codec reads what Go\'s payload codec writes, and writes it back the same', () => {
  // codec.CBOR[P]().Marshal of a struct with float64 fields 1.5, 100000.5
  // and 1.1 (half, single and double precision: Go writes the shortest
  // float that holds the value exactly), a uint64 2^64-1, an int64 -2^63
  // and a string; then a []float64 of 0.5, +Inf, 0 and 65504 (all half).
  const structHex = 'a6636269671bffffffffffffffff636e65673b7fffffffffffffff6468616c66f93e00647465787462686966646f75626c65fb3ff199999999999a6673696e676c65fa47c35040'
  const v = cbor.decode(fromHex(structHex))
  assert.deepEqual(v, { big: 2n ** 64n - 1n, neg: -(2n ** 63n), half: 1.5, text: 'hi', double: 1.1, single: 100000.5 })
  assert.equal(toHex(cbor.encode(v)), structHex)
  const floatsHex = '84f93800f97c00f90000f97bff'
  assert.deepEqual(cbor.decode(fromHex(floatsHex)), [0.5, Infinity, 0, 65504])
  // A JavaScript number with no fraction is written as an integer (Go
  // reads an integer into a float64 field as well).
  assert.equal(toHex(cbor.encode([0.5, Infinity, 0, 65504])), '84f93800f97c000019ffe0')
})
