// The admin dashboard: asks for the admin token (kept in this tab's session
// storage), then reads GET api/fleet every second and offers a Drain button
// per socket server (POST api/servers/:id/drain). Paths are relative to
// /admin/, so the page works under any prefix.
import { renderHealth, renderRegistries, renderServers, renderTotals } from './view.js'

const TOKEN_KEY = 'switchboard-admin-token'
const POLL_MS = 1000

const $ = (selector) => document.querySelector(selector)
const signIn = $('#sign-in')
const dashboard = $('#dashboard')
let timer
let lastOk = 0

function setStatus (state, text) {
  $('#status').dataset.state = state
  $('#status-text').textContent = text
}

function notice (text) {
  const node = $('#notice')
  node.textContent = text
  node.hidden = text === ''
}

function token () {
  return sessionStorage.getItem(TOKEN_KEY)
}

async function api (path, init = {}) {
  const response = await fetch(`api/${path}`, { ...init, headers: { authorization: `Bearer ${token()}`, ...init.headers }, cache: 'no-store' })
  if (response.status === 401) {
    signOut('The token was refused.')
    throw new Error('unauthorized')
  }
  const body = await response.json().catch(() => ({}))
  if (!response.ok) throw new Error(body.message ?? `HTTP ${response.status}`)
  return body
}

async function refresh () {
  try {
    const fleet = await api('fleet')
    lastOk = Date.now()
    renderTotals(document, fleet)
    renderServers(document, fleet.servers, drain)
    renderRegistries(document, fleet.registries)
    renderHealth(document, fleet.health)
    setStatus('live', 'live · updates every second')
  } catch (err) {
    if (token() === null) return
    const since = lastOk === 0 ? '' : ` (last update ${Math.round((Date.now() - lastOk) / 1000)} s ago)`
    setStatus('error', `cannot reach the registry: ${err.message}${since}`)
  }
}

async function drain (id, connections) {
  const clients = connections === 1 ? '1 client moves' : `${connections} clients move`
  if (!window.confirm(`Drain ${id}? Its ${clients} to other servers, then the server stops.`)) return
  try {
    await api(`servers/${encodeURIComponent(id)}/drain`, { method: 'POST' })
    notice(`Drain of ${id} requested: it starts at its next heartbeat.`)
  } catch (err) {
    notice(`Could not drain ${id}: ${err.message}`)
  }
  await refresh()
}

function start () {
  signIn.hidden = true
  dashboard.hidden = false
  $('#forget').hidden = false
  setStatus('wait', 'connecting…')
  clearInterval(timer)
  timer = setInterval(refresh, POLL_MS)
  return refresh()
}

function signOut (reason) {
  clearInterval(timer)
  sessionStorage.removeItem(TOKEN_KEY)
  dashboard.hidden = true
  signIn.hidden = false
  $('#forget').hidden = true
  $('#sign-in-error').textContent = reason
  setStatus('idle', 'signed out')
  $('#token').focus()
}

signIn.addEventListener('submit', (event) => {
  event.preventDefault()
  sessionStorage.setItem(TOKEN_KEY, $('#token').value.trim())
  $('#token').value = ''
  $('#sign-in-error').textContent = ''
  start()
})
$('#forget').addEventListener('click', () => signOut(''))

if (token() !== null) start()
else signOut('')
