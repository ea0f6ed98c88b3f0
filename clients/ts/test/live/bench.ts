// The Node.js side of BenchmarkTypeScriptSideBySide
// (adapters/gorilla/typescript_test.go), against the servers the benchmark
// starts:
//
//	node build/test/live/bench.js <ws-url> <raw-echo-url> <size>
//
// It connects, then does what the benchmark asks on stdin, one command a
// line, and answers each with one line on stdout, so that the benchmark can
// interleave its blocks with those of a Go client process and compare
// figures taken at the same time on a shared machine:
//
//	client <n>   n request round trips with the client: mean µs each
//	by-hand <n>  n round trips of the same requests with the protocol driven
//	             by hand over the ws package (one REQUEST frame out, its
//	             RESPONSE in; no machine, no promises of the client): what
//	             is left above it is the client's own
//	raw <n>      n round trips of plain WebSocket messages (the ws package,
//	             as the client uses in Node.js) against a raw
//	             gorilla/websocket echo: Node's floor
//	pipe <n>     n messages sent without waiting for each (about 1,000
//	             outstanding), timed until a request sent after them is
//	             answered, which the server handles after all of them:
//	             messages per second
//	quit         closes and exits
import { createInterface } from 'node:readline'
import { WebSocket } from 'ws'
import { connect, raw } from '../../src/node.js'
import { decodeMessage, encodeFrame, type Frame } from '../../src/wire.js'

const [url, rawURL, size] = [process.argv[2] as string, process.argv[3] as string, Number(process.argv[4])]
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

const payload = new Uint8Array(size).fill(0x61)
const pipe = async (n: number): Promise<number> => {
  const t0 = performance.now()
  // Sends made in one turn share transport messages; waiting for every
  // 1,000th keeps about one send window of them outstanding.
  for (let i = 0; i < n; i++) {
    const sent = c.send(payload)
    if (i % 1000 === 999) await sent
  }
  await c.request(ping)
  return n / ((performance.now() - t0) / 1000)
}

const rounds: Record<string, (n: number) => Promise<void>> = { client, 'by-hand': byHand, raw: echo }
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.split(' ')
  const n = Number(arg)
  let out: number
  if (cmd === 'quit') break
  if (cmd === 'pipe') {
    out = await pipe(n)
  } else {
    const f = rounds[cmd as string]
    if (f === undefined || !(n > 0)) throw new Error(`bench: unknown command ${JSON.stringify(line)}`)
    const t0 = performance.now()
    await f(n)
    out = (performance.now() - t0) * 1000 / n
  }
  process.stdout.write(`${out}\n`)
}
ws.close()
pws.close()
await c.close()
