// Renders the fleet into the page. Rows are keyed by id and updated in place,
// so a focused Drain button keeps its focus across the refresh every second.
import { ago, count, duration, rate, share } from './format.js'

function el (tag, className, text) {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

function badge (text, tone) {
  return el('span', `badge ${tone}`, text)
}

/** Keeps one <tr> per id in a table body, in the order given; calls fill(cells, item) on each. */
function syncRows (tbody, items, columns, build, fill) {
  const existing = new Map([...tbody.rows].map((row) => [row.dataset.id, row]))
  const wanted = new Set(items.map((item) => item.id))
  for (const [id, row] of existing) if (!wanted.has(id)) row.remove()
  items.forEach((item, index) => {
    let row = existing.get(item.id)
    if (row === undefined) {
      row = el('tr')
      row.dataset.id = item.id
      for (let i = 0; i < columns; i++) row.append(el(i === 0 ? 'th' : 'td'))
      if (row.cells[0]) row.cells[0].scope = 'row'
      build(row, item)
    }
    if (tbody.rows[index] !== row) tbody.insertBefore(row, tbody.rows[index] ?? null)
    fill(row, item)
  })
}

function replace (cell, ...children) {
  cell.replaceChildren(...children)
}

function serverState (server) {
  const badges = [server.alive ? badge('live', 'ok') : badge('no heartbeat', 'bad')]
  if (server.draining) badges.push(badge('draining', 'warn'))
  else if (server.drainRequested) badges.push(badge('drain requested', 'warn'))
  return badges
}

export function renderServers (root, servers, onDrain) {
  const tbody = root.querySelector('#servers tbody')
  root.querySelector('#servers-empty').hidden = servers.length > 0
  syncRows(tbody, servers, 6, (row, server) => {
    row.dataset.server = server.id
    row.cells[0].append(el('span', 'id'), el('span', 'url'))
    const bar = el('div', 'bar')
    bar.setAttribute('role', 'meter')
    bar.setAttribute('aria-valuemin', '0')
    bar.setAttribute('aria-label', `Connections on ${server.id}`)
    bar.append(el('div', 'fill'))
    row.cells[1].append(bar, el('span', 'connections'))
    row.cells[1].className = 'load'
    const button = el('button', 'drain', 'Drain')
    button.type = 'button'
    button.setAttribute('aria-label', `Drain ${server.id}`)
    button.addEventListener('click', () => onDrain(server.id, Number(row.dataset.connections)))
    row.cells[5].append(button)
  }, (row, server) => {
    row.dataset.connections = String(server.connections)
    row.classList.toggle('stale', !server.alive)
    row.querySelector('.id').textContent = server.id
    row.querySelector('.url').textContent = server.url
    const bar = row.querySelector('.bar')
    const percent = share(server.connections, server.capacity)
    bar.setAttribute('aria-valuemax', String(server.capacity))
    bar.setAttribute('aria-valuenow', String(server.connections))
    bar.setAttribute('aria-valuetext', `${server.connections} of ${server.capacity}`)
    bar.classList.toggle('full', percent >= 90)
    bar.firstChild.style.width = `${percent}%`
    row.querySelector('.connections').textContent = `${count(server.connections)} / ${count(server.capacity)}`
    row.cells[2].textContent = ago(server.heartbeatAgeMs)
    replace(row.cells[3], ...serverState(server))
    row.cells[4].textContent = rate(server.messagesPerSecond)
    row.cells[4].className = 'number'
    const button = row.querySelector('button.drain')
    button.disabled = server.draining || server.drainRequested || !server.alive
  })
}

function componentState (component) {
  return component.alive ? badge('live', 'ok') : badge('silent', 'bad')
}

export function renderRegistries (root, registries) {
  root.querySelector('#registries-empty').hidden = registries.length > 0
  syncRows(root.querySelector('#registries tbody'), registries, 5, () => {}, (row, r) => {
    row.classList.toggle('stale', !r.alive)
    row.cells[0].textContent = r.id
    row.cells[1].textContent = r.details.address ?? '—'
    row.cells[2].textContent = ago(r.lastSeenAgeMs)
    row.cells[3].textContent = duration(Math.max(0, Date.now() - r.startedAt))
    replace(row.cells[4], componentState(r))
  })
}

export function renderHealth (root, checkers) {
  root.querySelector('#health-empty').hidden = checkers.length > 0
  syncRows(root.querySelector('#health tbody'), checkers, 5, () => {}, (row, h) => {
    row.classList.toggle('stale', !h.alive)
    row.cells[0].textContent = h.id
    row.cells[1].textContent = ago(h.lastSweepAgeMs)
    row.cells[2].textContent = h.evictions === null ? '—' : count(h.evictions)
    row.cells[2].className = 'number'
    row.cells[3].textContent = ago(h.lastSeenAgeMs)
    replace(row.cells[4], componentState(h))
  })
}

export function renderTotals (root, fleet) {
  root.querySelector('#total-connections').textContent = count(fleet.totals.connections)
  root.querySelector('#total-capacity').textContent = count(fleet.totals.capacity)
  root.querySelector('#total-rate').textContent = rate(fleet.totals.messagesPerSecond)
  root.querySelector('#total-servers').textContent = count(fleet.servers.filter((s) => s.alive).length)
}
