// The Node.js side of BenchmarkTypeScriptSideBySide
// (adapters/gorilla/typescript_test.go), against the server the benchmark
// starts:
//
//	node build/test/live/bench.js <ws-url> <round-trips> <messages> <size> <raw-echo-url>
//
// It prints one JSON line: the mean request round trip in microseconds, and
// the rate at which <messages> messages of <size> bytes, sent without
// waiting for each (about 1,000 outstanding), reach the server (timed
// until a request sent after them is answered, which the server handles
// after all of them). For scale, it also times Node's floors: round trips
// of plain WebSocket messages (the ws package, as the client uses in
// Node.js) against a raw gorilla/websocket echo server, and of the same
// requests against the same server with the protocol driven by hand over
// the ws package (one REQUEST frame out, its RESPONSE in, no machine, no
// promises of the client): what is left above that is the client's own.
// The three round trips are timed in interleaved blocks.
import { WebSocket } from 'ws'
import { connect, raw } from '../../src/node.js'
import { decodeMessage, encodeFrame, type Frame } from '../../src/wire.js'

const [url, rounds, messages, size, rawURL] = [process.argv[2] as string, Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]), process.argv[6] as string]
const c = await connect(url, { codec: raw })
const ping = new Uint8Array(size)

const ws = new WebSocket(rawURL)
ws.binaryType = 'arraybuffer'
await new Promise(resolve => { ws.onopen = resolve })
const echo = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise(resolve => { ws.onmessage = resolve; ws.send(ping) })
}

const pws = new WebSocket(url)
pws.binaryType = 'arraybuffer'
await new Promise(resolve => { pws.onopen = resolve })
let onFrames: (fs: Frame[]) => void = () => {}
pws.onmessage = (ev) => onFrames(decodeMessage(new Uint8Array(ev.data as ArrayBuffer)))
const limits = { maxMessageSize: 1 << 20, maxInflight: 1024, maxRequests: 1024 }
await new Promise<void>(resolve => { onFrames = () => resolve(); pws.send(encodeFrame({ type: 1, version: 1, resume: null, auth: null, limits })) })
let seq = 0
let ack = 0
const byHand = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) {
    seq++
    await new Promise<void>(resolve => {
      onFrames = (fs) => {
        for (const f of fs) if (f.type === 7) { ack = f.seq; resolve() }
      }
      pws.send(encodeFrame({ type: 6, seq, ack, id: seq, payload: ping, name: '' }))
    })
  }
}
const client = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await c.request(ping)
}

// Warm up (the JIT), then time the three round trips in interleaved
// blocks, so that a change of the machine's load between them moves all
// three alike.
await client(3000)
await byHand(3000)
await echo(200)
const spent = [0, 0, 0]
const blocks = 10
for (let b = 0; b < blocks; b++) {
  const fs = [client, byHand, echo]
  for (let k = 0; k < fs.length; k++) {
    const t0 = performance.now()
    await (fs[k] as (n: number) => Promise<void>)(Math.ceil(rounds / blocks))
    spent[k] = (spent[k] as number) + performance.now() - t0
  }
}
const perRound = (k: number): number => (spent[k] as number) * 1000 / (blocks * Math.ceil(rounds / blocks))
const [rtMicros, protoRtMicros, rawRtMicros] = [perRound(0), perRound(1), perRound(2)]
ws.close()
pws.close()

const payload = new Uint8Array(size).fill(0x61)
const t0 = performance.now()
// Sends made in one turn share transport messages; waiting for every
// 1,000th keeps about one send window of them outstanding.
for (let i = 0; i < messages; i++) {
  const sent = c.send(payload)
  if (i % 1000 === 999) await sent
}
await c.request(ping)
const perSec = messages / ((performance.now() - t0) / 1000)
await c.close()
process.stdout.write(JSON.stringify({ rtMicros, perSec, rawRtMicros, protoRtMicros }) + '\n')
