// The web chat page: joins the lobby, shows what is said there, says what
// is typed, and pings the server (a request). The page's state is kept in
// window.chat as plain data, which the browser test reads.
import { connect, type Client } from '../../../clients/ts/src/index.js'

interface Line { name: string, text: string }
interface Pong { text: string, members: number }

interface ChatState {
  clientId: string
  joined: boolean
  lines: Array<{ name: string, text: string, seq: number }>
  pongs: string[]
  connectionsLost: number
  resumes: number
  sessionsLost: number
  errors: string[]
}

const state: ChatState = { clientId: '', joined: false, lines: [], pongs: [], connectionsLost: 0, resumes: 0, sessionsLost: 0, errors: [] };
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
  const c: Client<Line> = await connect<Line>(url.href, { reconnectMinMs: 50, reconnectMaxMs: 2000 })
  state.clientId = c.clientId
  status(`connected as ${c.clientId}`)
  c.on('message', (m) => {
    if (m.error !== undefined) {
      state.errors.push(`undecodable message ${m.seq}`)
      return
    }
    state.lines.push({ name: m.data.name, text: m.data.text, seq: m.seq })
    show(`${m.data.name}: ${m.data.text}`)
  })
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

  const ping = async (text: string): Promise<void> => {
    try {
      const pong = await c.request<{ text: string }, Pong>({ text }, { signal: AbortSignal.timeout(10000) })
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
    c.send({ room: 'lobby', name: name.value, text: text.value }).catch((err: unknown) => { state.errors.push(`send: ${String(err)}`) })
    text.value = ''
  })
  $('ping').addEventListener('click', () => { void ping('hello') })

  const say = params.get('say')
  if (say !== null) await c.send({ room: 'lobby', name: name.value, text: say })
  if (params.has('ping')) await ping(params.get('ping') ?? '')
}

main().catch((err: unknown) => {
  state.errors.push(String(err))
  status(`failed: ${String(err)}`)
})
