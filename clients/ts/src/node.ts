// The Node.js entry: the same API, with the ws package as the WebSocket
// when Node.js has no global one (before Node.js 22), and node:crypto as
// the random source. ws is an optional peer dependency, loaded only where
// it is used: on Node.js 22 and later this entry works without it.
import { randomBytes } from 'node:crypto'
import type { WebSocket as WsWebSocket } from 'ws'
import { connect as connectWith, Client, type ClientOptions, type CallOptions, type WebSocketConstructor, type WebSocketLike } from './client.js'

export * from './index.js'

/**
 * The ws package's WebSocket as the client uses it, through its own
 * EventEmitter API rather than its browser-style wrapper: a binary message
 * arrives as the Buffer ws assembled it in (with binaryType 'arraybuffer'
 * ws copies every message into an ArrayBuffer of its own), with no
 * MessageEvent made for it; and no permessage-deflate offer, as the Go
 * client makes none (a server that accepted one would have every small
 * message compressed). Measured on a request round trip: see
 * BenchmarkTypeScriptSideBySide.
 */
function nodeSocket (Ws: typeof WsWebSocket): WebSocketConstructor {
  return class NodeSocket implements WebSocketLike {
    binaryType = 'nodebuffer' // what the driver sets is ignored: the driver takes any Uint8Array
    onopen: ((ev: unknown) => void) | null = null
    onmessage: ((ev: { data: unknown }) => void) | null = null
    onclose: ((ev: unknown) => void) | null = null
    onerror: ((ev: unknown) => void) | null = null
    private readonly _ws: WsWebSocket

    constructor (url: string, protocols?: string | string[]) {
      const ws = new Ws(url, protocols, { perMessageDeflate: false })
      ws.binaryType = 'nodebuffer'
      ws.on('open', () => this.onopen?.({}))
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        // Text messages are not part of the protocol; the driver ignores a string.
        this.onmessage?.({ data: isBinary ? data : data.toString() })
      })
      ws.on('close', (code: number) => this.onclose?.({ code }))
      // Always listened to: ws throws an 'error' nobody listens to.
      ws.on('error', (err: Error) => this.onerror?.(err))
      this._ws = ws
    }

    get readyState (): number { return this._ws.readyState }
    send (data: Uint8Array): void { this._ws.send(data) }
    close (code?: number, reason?: string): void { this._ws.close(code, reason) }
  }
}

// The ws package's NodeSocket, once loaded; a failed load is tried again.
let wsSocket: Promise<WebSocketConstructor> | null = null

async function loadWs (): Promise<WebSocketConstructor> {
  wsSocket ??= import('ws').then(m => nodeSocket(m.WebSocket), err => {
    wsSocket = null
    throw new TypeError('bettersocket: no WebSocket implementation: on Node.js before 22, install the ws package (npm install ws) or pass options.WebSocket', { cause: err })
  })
  return await wsSocket
}

async function options (opts: ClientOptions): Promise<ClientOptions> {
  const WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? await loadWs()
  // Node.js 18 has no global crypto.getRandomValues without a flag.
  return { ...opts, WebSocket: WS, random: opts.random ?? ((n: number) => new Uint8Array(randomBytes(n))) }
}

/**
 * connect, with Node's global WebSocket (Node.js 22+) or else the ws
 * package's; without either (and no options.WebSocket) it rejects with a
 * TypeError that says so.
 */
export async function connect<M = unknown> (url: string, opts: ClientOptions & CallOptions = {}): Promise<Client<M>> {
  return await connectWith<M>(url, await options(opts) as ClientOptions & CallOptions)
}
