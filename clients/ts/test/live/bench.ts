// The Node.js side of BenchmarkTypeScriptSideBySide
// (adapters/gorilla/typescript_test.go), against the server the benchmark
// starts:
//
//	node build/test/live/bench.js <ws-url> <round-trips> <messages> <size>
//
// It prints one JSON line: the mean request round trip in microseconds, and
// the rate at which <messages> messages of <size> bytes, sent as fast as
// the send window allows, reach the server (timed until a request sent
// after them is answered, which the server handles after all of them).
import { connect, raw } from '../../src/node.js'

const [url, rounds, messages, size] = [process.argv[2] as string, Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])]
const c = await connect(url, { codec: raw })
const ping = new Uint8Array(size)

for (let i = 0; i < 200; i++) await c.request(ping) // warm up
let t0 = performance.now()
for (let i = 0; i < rounds; i++) await c.request(ping)
const rtMicros = (performance.now() - t0) * 1000 / rounds

const payload = new Uint8Array(size).fill(0x61)
t0 = performance.now()
const sent: Array<Promise<void>> = []
for (let i = 0; i < messages; i++) sent.push(c.send(payload))
await Promise.all(sent)
await c.request(ping)
const perSec = messages / ((performance.now() - t0) / 1000)
await c.close()
process.stdout.write(JSON.stringify({ rtMicros, perSec }) + '\n')
