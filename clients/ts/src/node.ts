// The Node.js entry: the same API, with the ws package as the WebSocket
// when Node.js has no global one (before Node.js 22), and node:crypto as
// the random source.
import { randomBytes } from 'node:crypto'
import { WebSocket as WsWebSocket } from 'ws'
import { connect as connectWith, Client, type ClientOptions, type CallOptions, type WebSocketConstructor } from './client.js'

export * from './index.js'

function options (opts: ClientOptions): ClientOptions {
  const WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? (WsWebSocket as unknown as WebSocketConstructor)
  // Node.js 18 has no global crypto.getRandomValues without a flag.
  return { ...opts, WebSocket: WS, random: opts.random ?? ((n: number) => new Uint8Array(randomBytes(n))) }
}

/** connect, with Node's global WebSocket or else the ws package's. */
export async function connect<M = unknown> (url: string, opts: ClientOptions & CallOptions = {}): Promise<Client<M>> {
  return await connectWith<M>(url, options(opts) as ClientOptions & CallOptions)
}
