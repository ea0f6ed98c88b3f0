// The web chat page: joins the lobby, tells the others it is here (a
// publish named "presence"), shows what is said there (the server's
// messages named "line"), says what is typed (a message named "say"), and
// pings the server (a request naming "ping"). The page's state is kept in
// window.chat as plain data, which the browser test reads. With ?key=...
// in its URL (the server's public key, which go run ./examples/webchat
// -secure prints) it encrypts, pinning that key.
import { connect, type Client } from '../../../clients/ts/src/index.js'
import { secure } from '../../../clients/ts/src/secure.js'

interface Line { name: string, text: string }
interface Presence { name: string }
interface Pong { text: string, members: number }

interface ChatState {
  clientId: string
  joined: boolean
  announced: boolean
  lines: Array<{ name: string, text: string, seq: number }>
  pongs: string[]
  connectionsLost: number
  resumes: number
  sessionsLost: number
  encrypted: boolean
  errors: string[]
}

const state: ChatState = { clientId: '', joined: false, announced: false, lines: [], pongs: [], connectionsLost: 0, resumes: 0, sessionsLost: 0, encrypted: false, errors: [] };
(globalThis as unknown as { chat: ChatState }).chat = state

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T
const params = new URLSearchParams(location.search)
const name = $<HTMLInputElement>('name')
name.value = params.get('name') ?? 'guest' + Math.floor(Math.random() * 1000)

function show (text: string, note = false): void {
  const p = document.createElement('p')
  p.textContent = text
  if (note) p.className = 'note'
  const log = $('log')
  log.append(p)
  log.scrollTop = log.scrollHeight
}

function status (text: string): void { $('status').textContent = text }

async function main (): Promise<void> {
  const url = new URL('ws', location.href)
  url.protocol = url.protocol.replace('http', 'ws')
  const key = params.get('key')
  const c: Client = await connect(url.href, {
    reconnectMinMs: 50,
    reconnectMaxMs: 2000,
    secure: key === null ? null : secure({ mode: 'server-key', serverKey: key })
  })
  state.clientId = c.clientId
  state.encrypted = key !== null
  status(`connected as ${c.clientId}${state.encrypted ? ', encrypted' : ''}`)
  c.handleMessage<Line>('line', (line, m) => {
    if (m.error !== undefined) {
      state.errors.push(`undecodable line ${m.seq}`)
      return
    }
    state.lines.push({ name: line.name, text: line.text, seq: m.seq })
    show(`${line.name}: ${line.text}`)
  })
  c.handleMessage<Presence>('presence', (p) => { show(`${p.name} is here`, true) })
  c.on('message', (m) => { state.errors.push(`unexpected message ${m.seq} named ${JSON.stringify(m.name)}`) })
  c.on('connectionLost', (ev) => {
    state.connectionsLost++
    status(`connection lost; reconnecting${ev.reconnectAt === null ? '' : ` in ${Math.max(0, Math.round(ev.reconnectAt - performance.now()))} ms`}`)
  })
  c.on('resumed', () => {
    state.resumes++
    status(`resumed ${c.clientId}: nothing lost`)
  })
  c.on('sessionLost', (ev) => {
    state.sessionsLost++
    show(`session lost: ${ev.lost.unacked.length} messages were not delivered`, true)
  })
  c.on('connected', (ev) => {
    state.clientId = ev.clientId
    status(`connected as ${ev.clientId}`)
  })
  c.on('closed', (ev) => { status(`closed: ${String(ev.error)}`) })

  await c.join('lobby')
  state.joined = true
  show('joined the lobby', true)
  try {
    await c.publish<Presence>('lobby', { name: name.value }, { name: 'presence' })
    state.announced = true
  } catch (err) {
    state.errors.push(`presence: ${String(err)}`)
  }

  const ping = async (text: string): Promise<void> => {
    try {
      const pong = await c.invoke<{ text: string }, Pong>('ping', { text }, { signal: AbortSignal.timeout(10000) })
      state.pongs.push(pong.text)
      show(`${pong.text} (${pong.members} in the lobby)`, true)
    } catch (err) {
      state.errors.push(`ping: ${String(err)}`)
      show(`ping failed: ${String(err)}`, true)
    }
  }
  $('say').addEventListener('submit', (ev) => {
    ev.preventDefault()
    const text = $<HTMLInputElement>('text')
    if (text.value === '') return
    c.emit('say', { room: 'lobby', name: name.value, text: text.value }).catch((err: unknown) => { state.errors.push(`send: ${String(err)}`) })
    text.value = ''
  })
  $('ping').addEventListener('click', () => { void ping('hello') })

  const say = params.get('say')
  if (say !== null) await c.emit('say', { room: 'lobby', name: name.value, text: say })
  if (params.has('ping')) await ping(params.get('ping') ?? '')
}

main().catch((err: unknown) => {
  state.errors.push(String(err))
  status(`failed: ${String(err)}`)
})
