// The chat page, built on the client SDK (served at /sdk/): sign in with a
// name (dev auth), see who is online in the lobby, exchange direct messages.
// The SDK reconnects, recovers and resends; the page only renders.
import { createClient } from '/sdk/index.js'

const $ = (id) => document.getElementById(id)
const LOBBY = 'lobby'
const state = { client: null, me: '', current: '', peers: new Set(), seen: new Set(), online: new Set() }

function setStatus (text, kind) {
  $('status').textContent = text
  $('status').dataset.state = kind
}

function peerOf (message) {
  return message.from === state.me ? message.to : message.from
}

function render (message) {
  const key = `${message.channel} ${message.offset}`
  if (state.seen.has(key) || message.to === undefined) return
  state.seen.add(key)
  const peer = peerOf(message)
  addPeer(peer)
  const item = document.createElement('li')
  item.dataset.peer = peer
  item.className = message.from === state.me ? 'mine' : 'theirs'
  const meta = document.createElement('span')
  meta.className = 'meta'
  meta.textContent = `${message.from} · ${new Date(message.ts).toLocaleTimeString()}`
  const text = document.createElement('span')
  text.className = 'text'
  text.textContent = typeof message.data?.text === 'string' ? message.data.text : JSON.stringify(message.data)
  item.append(meta, text)
  item.hidden = peer !== state.current
  $('messages').append(item)
  $('messages').scrollTop = $('messages').scrollHeight
}

function personButton (name, onClick) {
  const item = document.createElement('li')
  const button = document.createElement('button')
  button.type = 'button'
  button.textContent = name
  button.dataset.name = name
  button.addEventListener('click', onClick)
  item.append(button)
  return item
}

function addPeer (peer) {
  if (state.peers.has(peer)) return
  state.peers.add(peer)
  $('peers').append(personButton(peer, () => selectPeer(peer)))
  if (state.current === '') selectPeer(peer)
}

function selectPeer (peer) {
  state.current = peer
  $('to').value = peer
  $('title').textContent = `Conversation with ${peer}`
  for (const button of $('peers').querySelectorAll('button')) button.setAttribute('aria-current', String(button.dataset.name === peer))
  for (const item of $('messages').children) item.hidden = item.dataset.peer !== peer
  $('text').focus()
}

function renderOnline () {
  const list = $('online')
  list.replaceChildren(...[...state.online].sort().map((name) => personButton(name === state.me ? `${name} (you)` : name, () => {
    if (name !== state.me) { addPeer(name); selectPeer(name) }
  })))
}

async function loadHistory () {
  const messages = await state.client.history(`user:${state.me}`, { limit: 100 })
  for (const message of messages) render(message)
}

async function start (me) {
  state.me = me
  const client = createClient({ registryUrl: location.origin, auth: { user: me } })
  state.client = client
  client.on('state', (s, detail) => {
    if (s === 'connected') setStatus(`live as ${me}`, 'live')
    else if (s === 'reconnecting') setStatus(`reconnecting in ${Math.ceil((detail.delayMs ?? 0) / 1000)} s`, 'reconnecting')
    else setStatus(s, s)
    if (detail.reason !== undefined) $('error').textContent = detail.reason
    if (s === 'connected') $('error').textContent = ''
  })
  client.on('message', render)
  client.on('reset', () => { loadHistory().catch(showError) })
  client.on('presence', (event) => {
    if (event.channel !== `room:${LOBBY}`) return
    if (event.type === 'join') state.online.add(event.user)
    else state.online.delete(event.user)
    renderOnline()
  })
  client.on('error', showError)
  setStatus('connecting…', 'connecting')
  await client.ready
  await client.join(LOBBY)
  for (const user of await client.presence(`room:${LOBBY}`)) state.online.add(user)
  renderOnline()
  await loadHistory()
}

function showError (err) {
  $('error').textContent = err.code ? `${err.code}: ${err.message}` : String(err.message ?? err)
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault()
  $('login').hidden = true
  $('chat').hidden = false
  start($('name').value.trim()).catch(showError)
})

$('compose').addEventListener('submit', (event) => {
  event.preventDefault()
  const to = $('to').value.trim()
  const text = $('text').value
  $('text').value = ''
  addPeer(to)
  selectPeer(to)
  state.client.send(to, { text }).catch(showError)
})
