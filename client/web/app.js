// The chat page: allocate through the registry, connect straight to the socket
// server it names, exchange direct messages. Speaks docs/protocol.md directly.
const $ = (id) => document.getElementById(id)
const state = { user: '', socket: null, nextId: 1, attempt: 0, peers: new Set(), current: '' }

function setStatus (text, kind) {
  $('status').textContent = text
  $('status').dataset.state = kind
}

async function connect () {
  setStatus(state.attempt === 0 ? 'connecting…' : 'reconnecting…', state.attempt === 0 ? 'connecting' : 'reconnecting')
  let allocation
  try {
    const response = await fetch(`/allocate?user=${encodeURIComponent(state.user)}`)
    allocation = await response.json()
    if (!response.ok) throw new Error(allocation.message ?? allocation.code)
  } catch (err) {
    return retry(err.message)
  }
  const socket = new WebSocket(`${allocation.url}?token=${encodeURIComponent(allocation.token)}`)
  state.socket = socket
  socket.onmessage = (event) => onFrame(JSON.parse(event.data))
  socket.onclose = (event) => {
    if (state.socket !== socket) return
    state.socket = null
    retry(`connection closed (${event.code})`)
  }
}

function retry (reason) {
  // Full-jitter exponential backoff, capped at 10 s.
  const delay = Math.random() * Math.min(10_000, 500 * 2 ** state.attempt++)
  setStatus(`reconnecting in ${Math.ceil(delay / 1000)} s`, 'reconnecting')
  $('error').textContent = reason
  setTimeout(connect, delay)
}

function onFrame (frame) {
  switch (frame.type) {
    case 'welcome':
      state.attempt = 0
      setStatus(`live as ${frame.user} on ${frame.server}`, 'live')
      $('error').textContent = ''
      break
    case 'message': {
      const peer = frame.from === state.user ? frame.to : frame.from
      addPeer(peer)
      showMessage(frame)
      break
    }
    case 'error':
      $('error').textContent = `${frame.code}: ${frame.message}`
      break
  }
}

function addPeer (peer) {
  if (state.peers.has(peer)) return
  state.peers.add(peer)
  const item = document.createElement('li')
  const button = document.createElement('button')
  button.type = 'button'
  button.textContent = peer
  button.addEventListener('click', () => selectPeer(peer))
  item.append(button)
  $('peers').append(item)
  if (state.current === '') selectPeer(peer)
}

function selectPeer (peer) {
  state.current = peer
  $('to').value = peer
  for (const button of $('peers').querySelectorAll('button')) {
    button.setAttribute('aria-current', String(button.textContent === peer))
  }
  for (const item of $('messages').children) item.hidden = item.dataset.peer !== peer
  $('text').focus()
}

function showMessage (frame) {
  const peer = frame.from === state.user ? frame.to : frame.from
  const item = document.createElement('li')
  item.dataset.peer = peer
  item.className = frame.from === state.user ? 'mine' : 'theirs'
  const meta = document.createElement('span')
  meta.className = 'meta'
  meta.textContent = `${frame.from} · ${new Date(frame.ts).toLocaleTimeString()}`
  const text = document.createElement('span')
  text.className = 'text'
  text.textContent = typeof frame.data?.text === 'string' ? frame.data.text : JSON.stringify(frame.data)
  item.append(meta, text)
  item.hidden = state.current !== '' && peer !== state.current
  $('messages').append(item)
  $('messages').scrollTop = $('messages').scrollHeight
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault()
  state.user = $('name').value.trim()
  $('login').hidden = true
  $('chat').hidden = false
  $('to').focus()
  connect()
})

$('compose').addEventListener('submit', (event) => {
  event.preventDefault()
  const to = $('to').value.trim()
  const text = $('text').value
  if (state.socket?.readyState !== WebSocket.OPEN) {
    $('error').textContent = 'not connected yet'
    return
  }
  const id = state.nextId++
  state.socket.send(JSON.stringify({ type: 'send', id, to, data: { text }, mid: `${state.user}-${Date.now()}-${id}` }))
  addPeer(to)
  selectPeer(to)
  $('text').value = ''
})
