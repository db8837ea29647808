/**
 * Lua scripts for the Redis store, loaded with ioredis `defineCommand`
 * (EVALSHA, falling back to EVAL once per connection); the two batch scripts,
 * `APPEND_BATCH` and `RESERVE_BATCH`, go through `BulkScript` (bulk-script.ts).
 * Time comes from Redis (`TIME`), so heartbeats written by one machine and
 * read by another never depend on their clocks agreeing.
 */

const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/** Offsets are stream ids `<ms>-<seq>`; compare them numerically. */
const COMPARE = `local function cmp (a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  if am ~= bm then return am < bm and -1 or 1 end
  if as ~= bs then return as < bs and -1 or 1 end
  return 0
end`

/**
 * A channel's meta hash (epoch, top, trimmed) lives and expires with its
 * stream. Missing meta means history is gone: start a new epoch.
 * ARGV[1]: a fresh epoch, ARGV[2]: ttl ms.
 */
const ENSURE_META = `local function ensure (stream, meta)
  local m = redis.call('HMGET', meta, 'epoch', 'top', 'trimmed')
  if m[1] then return m[1], m[2] or '0-0', m[3] or '0-0' end
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'epoch', ARGV[1], 'top', '0-0', 'trimmed', '0-0')
  redis.call('PEXPIRE', meta, ARGV[2])
  return ARGV[1], '0-0', '0-0'
end`

/**
 * Appends, atomically with their history: a live message is always in history,
 * and its offset is the stream id. One call holds what a socket server gathered
 * during one turn of its event loop (on Redis Cluster, that turn's entries of one
 * slot). Each entry is checked (room membership, a repeated (sender, mid)) and
 * appended in order; then each channel that got messages is trimmed exactly
 * (remembering the newest dropped offset: recovery from before it is
 * impossible), refreshed and published once (PUBLISH, or SPUBLISH on Redis
 * Cluster: the live channel shares the stream's slot), its frames joined by
 * newlines (a JSON frame never holds a raw newline; subscribers split them).
 * So a busy channel costs its meta, trim and expiry calls and one PUBLISH per
 * batch instead of per message.
 * KEYS: per channel (1..C) stream, meta; then, entry by entry, its dedup key (if it has a mid)
 *   and its members key (if the sender must be a member).
 * ARGV: fresh epoch, ttl ms, max length, dedup ttl ms, PUBLISH|SPUBLISH, C, E, the C live channels, then per
 *   entry: channel index, frame prefix, flags (1: has a mid, 2: sender must be a member, 4: report
 *   the result, 8: appended only if the entry before it was: a direct message's copy right behind its original),
 *   and the sender if flag 2.
 * Returns one string per reported entry: the offset (appended), 'd' .. offset (duplicate), '' (not a member).
 */
export const APPEND_BATCH = `
${ENSURE_META}
local C, E = tonumber(ARGV[6]), tonumber(ARGV[7])
local maxLen = tonumber(ARGV[3])
local a, k = 8 + C, 2 * C + 1
local out, frames, tops, order = {}, {}, {}, {}
local previous = false
for _ = 1, E do
  local c, prefix, flags = tonumber(ARGV[a]), ARGV[a + 1], tonumber(ARGV[a + 2])
  a = a + 3
  local dedup, result = false, nil
  if flags % 2 == 1 then dedup = KEYS[k]; k = k + 1 end
  if flags % 4 >= 2 then
    if redis.call('SISMEMBER', KEYS[k], ARGV[a]) == 0 then result = '' end
    k, a = k + 1, a + 1
  end
  if flags >= 8 and not previous then result = '' end
  if result == nil and dedup then
    local seen = redis.call('GET', dedup)
    if seen then result = 'd' .. seen end
  end
  previous = result == nil
  if result == nil then
    local stream = KEYS[2 * c - 1]
    if not frames[c] then
      ensure(stream, KEYS[2 * c])
      frames[c] = {}
      order[#order + 1] = c
    end
    local id = redis.call('XADD', stream, '*', 'f', prefix)
    if dedup then redis.call('SET', dedup, id, 'PX', ARGV[4]) end
    local list = frames[c]
    list[#list + 1] = prefix .. id .. '"}'
    tops[c] = id
    result = id
  end
  if flags % 8 >= 4 then out[#out + 1] = result end
end
for _, c in ipairs(order) do
  local stream, meta = KEYS[2 * c - 1], KEYS[2 * c]
  redis.call('HSET', meta, 'top', tops[c])
  local len = redis.call('XLEN', stream)
  if len > maxLen + math.max(1, math.floor(maxLen / 10)) then
    local excess = len - maxLen
    local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', excess + 1)
    redis.call('XTRIM', stream, 'MINID', head[excess + 1][1])
    redis.call('HSET', meta, 'trimmed', head[excess][1])
  end
  redis.call('PEXPIRE', stream, ARGV[2])
  redis.call('PEXPIRE', meta, ARGV[2])
  redis.call(ARGV[5], ARGV[7 + c], table.concat(frames[c], '\\n'))
end
return out
`

/** KEYS: stream, meta. ARGV: fresh epoch, ttl ms. Returns { epoch, top }. */
export const POSITION = `
${ENSURE_META}
local epoch, top = ensure(KEYS[1], KEYS[2])
return { epoch, top }
`

/**
 * Reads forward from `after` (exclusive) to `upTo` (inclusive) into `out`, oldest first: at most
 * `limit` frames and no more than `maxBytes` of them (always at least one). XRANGE in small steps, so
 * a page of big messages never costs Redis more than a few of them beyond the page.
 */
const READ_FORWARD = `local function forward (stream, after, upTo, limit, maxBytes, out)
  local n, bytes, cursor = 0, 0, '(' .. after
  while n < limit do
    local batch = redis.call('XRANGE', stream, cursor, upTo, 'COUNT', math.min(16, limit - n))
    if #batch == 0 then return end
    for _, entry in ipairs(batch) do
      local frame = entry[2][2] .. entry[1] .. '"}'
      if n > 0 and bytes + #frame > maxBytes then return end
      out[#out + 1] = frame
      n, bytes, cursor = n + 1, bytes + #frame, '(' .. entry[1]
    end
  end
end`

/**
 * The first page of everything after ARGV[3] if history still holds all of it (the rest is read
 * with READ_PAGE, up to the `top` returned here).
 * KEYS: stream, meta. ARGV: fresh epoch, ttl ms, since offset, since epoch, page limit, page max bytes.
 * Returns { 1|0 recovered, epoch, top, frame… }.
 */
export const RECOVER = `
${ENSURE_META}
${COMPARE}
${READ_FORWARD}
local epoch, top, trimmed = ensure(KEYS[1], KEYS[2])
local since = ARGV[3]
if epoch ~= ARGV[4] or cmp(since, trimmed) < 0 or cmp(since, top) > 0 then return { 0, epoch, top } end
local out = { 1, epoch, top }
forward(KEYS[1], since, top, tonumber(ARGV[5]), tonumber(ARGV[6]), out)
return out
`

/**
 * One page of a reply sent in parts (a replay, a long history reply). Reads nothing and creates
 * nothing when ARGV[5] (an epoch) is given and the read would have a gap: the channel has another
 * epoch (or none), or messages after ARGV[1] were trimmed away.
 * KEYS: stream, meta. ARGV: after (exclusive), up to (inclusive), limit, max bytes, epoch ('' = no check).
 * Returns { 1, frame… }, or { 0 } for a gap.
 */
export const READ_PAGE = `
${COMPARE}
${READ_FORWARD}
if ARGV[5] ~= '' then
  local m = redis.call('HMGET', KEYS[2], 'epoch', 'trimmed')
  if m[1] ~= ARGV[5] or cmp(ARGV[1], m[2] or '0-0') < 0 then return { 0 } end
end
local out = { 1 }
forward(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), out)
return out
`

/**
 * Where a history request's messages lie: the ARGV[2] newest entries older than ARGV[1] ('' = the
 * newest). Walks back in small steps, keeping the frames only while they fit in ARGV[3] bytes, so a
 * small reply costs one call and a big one only the ids.
 * KEYS: stream. Returns {} when there is none, else { after (exclusive), upTo (inclusive), 1|0 the
 * frames fit, frame… (oldest first, when they fit) }.
 */
export const HISTORY_SPAN = `
if ARGV[1] == '0-0' then return {} end
local limit, maxBytes = tonumber(ARGV[2]), tonumber(ARGV[3])
local cursor = ARGV[1] == '' and '+' or '(' .. ARGV[1]
local upTo, after, n, bytes, fits, frames = nil, '0-0', 0, 0, true, {}
while n <= limit do
  local batch = redis.call('XREVRANGE', KEYS[1], cursor, '-', 'COUNT', 16)
  if #batch == 0 then break end
  for _, entry in ipairs(batch) do
    if n == limit then
      after = entry[1]
      n = n + 1
      break
    end
    upTo = upTo or entry[1]
    if fits then
      local frame = entry[2][2] .. entry[1] .. '"}'
      bytes = bytes + #frame
      if bytes > maxBytes and n > 0 then fits, frames = false, {} else frames[#frames + 1] = frame end
    end
    n, cursor = n + 1, '(' .. entry[1]
  end
end
if upTo == nil then return {} end
local out = { after, upTo, fits and 1 or 0 }
for i = #frames, 1, -1 do out[#out + 1] = frames[i] end
return out
`

/**
 * Presence: members of the sorted set are "user|server" (all score 0, so a
 * lexicographic range finds one user's entries). A server counts while its
 * heartbeat is recent.
 */
const OTHERS_ALIVE = `local function othersAlive (user, mine, window)
  ${NOW_MS}
  for _, m in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], '[' .. user .. '|', '[' .. user .. '|\\255')) do
    if m ~= mine then
      local beat = redis.call('ZSCORE', KEYS[2], string.sub(m, #user + 2))
      if beat and tonumber(beat) >= now - window then return true end
    end
  end
  return false
end`

/**
 * KEYS: presence set, alive set, presence index of the server. ARGV: user, server, alive window ms, live channel, event ('' = none), channel.
 * Returns 1 if the event is due: published here, or by the caller when the live channel is '' (Redis Cluster: another slot).
 */
export const PRESENCE_ADD = `
${OTHERS_ALIVE}
local mine = ARGV[1] .. '|' .. ARGV[2]
local first = not othersAlive(ARGV[1], mine, tonumber(ARGV[3]))
redis.call('ZADD', KEYS[1], 0, mine)
redis.call('SADD', KEYS[3], ARGV[6])
if first and ARGV[5] ~= '' then
  if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
  return 1
end
return 0
`

/** KEYS: presence set, alive set. ARGV: user, server, alive window ms, live channel ('' = the caller publishes), event ('' = none). Returns 1 if the event is due. */
export const PRESENCE_REMOVE = `
${OTHERS_ALIVE}
local mine = ARGV[1] .. '|' .. ARGV[2]
if redis.call('ZREM', KEYS[1], mine) == 0 then return 0 end
if othersAlive(ARGV[1], mine, tonumber(ARGV[3])) or ARGV[5] == '' then return 0 end
if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return 1
`

/**
 * Users present on a channel: entries whose server is alive. Entries of
 * servers that left the fleet entirely are removed on the way.
 * KEYS: presence set, alive set. ARGV: alive window ms.
 */
export const PRESENCE = `
${NOW_MS}
local oldest = now - tonumber(ARGV[1])
local users, seen, beats = {}, {}, {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local sep = string.find(m, '|', 1, true)
  local user, server = string.sub(m, 1, sep - 1), string.sub(m, sep + 1)
  if beats[server] == nil then beats[server] = redis.call('ZSCORE', KEYS[2], server) or false end
  local beat = beats[server]
  if not beat then
    redis.call('ZREM', KEYS[1], m)
  elseif tonumber(beat) >= oldest and not seen[user] then
    seen[user] = true
    users[#users + 1] = user
  end
end
return users
`

/**
 * Register or refresh a socket server, and reconcile its load to the truth:
 * live connections plus reservations neither claimed nor expired.
 * KEYS: load set, alive set, server hash, reservations.
 * ARGV: id, url, capacity, draining (0|1), startedAt, connections, grace ms, messages/s ('' = not reported).
 * Returns { readmitted, drain requested }: readmitted is 1 when the server was
 * not in the fleet (first start, or evicted meanwhile); drain requested is 1
 * once an admin asked it to drain (REQUEST_DRAIN), until its record is removed.
 */
export const HEARTBEAT = `
${NOW_MS}
local readmitted = redis.call('ZSCORE', KEYS[2], ARGV[1]) == false and 1 or 0
local drain = redis.call('HEXISTS', KEYS[3], 'drainRequestedAt')
redis.call('HSET', KEYS[3], 'url', ARGV[2], 'capacity', ARGV[3], 'draining', ARGV[4], 'startedAt', ARGV[5], 'connections', ARGV[6])
if ARGV[8] ~= '' then redis.call('HSET', KEYS[3], 'rate', ARGV[8]) end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. (now - tonumber(ARGV[7])))
redis.call('ZADD', KEYS[1], tonumber(ARGV[6]) + redis.call('ZCARD', KEYS[4]), ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[1])
return { readmitted, drain }
`

/**
 * Ask a socket server to drain: a mark in its record that its next heartbeat
 * reads. Only for a server that has a record. KEYS: server hash.
 * Returns 1 when recorded (or already requested), 0 for an unknown server.
 */
export const REQUEST_DRAIN = `
${NOW_MS}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSETNX', KEYS[1], 'drainRequestedAt', now)
return 1
`

/**
 * A registry or health checker says it is alive: last seen (store clock) in
 * the role's sorted set, details in a hash that expires unless refreshed.
 * KEYS: the role's set, the component's hash. ARGV: id, startedAt, details (JSON), ttl ms.
 */
export const ANNOUNCE = `
${NOW_MS}
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HSET', KEYS[2], 'startedAt', ARGV[2], 'details', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
`

/**
 * The components of a role whose details have not expired; the others are
 * forgotten on the way. KEYS: the role's set. ARGV: the role's hash prefix.
 * Returns a flat list: id, last seen, startedAt, details, …
 */
export const COMPONENTS = `
local out = {}
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #entries, 2 do
  local id = entries[i]
  local h = redis.call('HMGET', ARGV[1] .. id, 'startedAt', 'details')
  if h[1] then
    out[#out + 1] = id
    out[#out + 1] = entries[i + 1]
    out[#out + 1] = h[1]
    out[#out + 1] = h[2] or '{}'
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`

/**
 * Reserve places on the least-loaded eligible servers (alive within the
 * request's window, not draining, under capacity, not the request's excluded
 * one), for every request a registry gathered during one turn of its event
 * loop. Each place is counted in the load set at once, so concurrent
 * allocations spread out, and remembered as a reservation (its nonce, until
 * expiresAt) that the socket server claims on connect. The fleet is read
 * once, each request takes the
 * least-loaded eligible server given the places taken before it in the batch,
 * and each chosen server gets one ZINCRBY and one ZADD of all its nonces.
 * (The fleet keys share one slot, so this runs on Redis Cluster as well.)
 * KEYS: load set, alive set. ARGV: server hash prefix, reservations prefix, N, then per request:
 *   alive window ms, nonce, expiresAt, excluded id.
 * Returns the chosen servers once each, then two numbers per request: { R, R rows of id, url, capacity,
 * lastHeartbeat, startedAt, then per request its row (1..R, 0 = no server) and the load it saw }. A storm of
 * requests for a few servers comes back as a few rows and a list of small integers.
 */
export const RESERVE_BATCH = `
${NOW_MS}
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local servers = {}
for i = 1, #entries, 2 do
  local id = entries[i]
  local beat = redis.call('ZSCORE', KEYS[2], id)
  if beat then
    local rec = redis.call('HMGET', ARGV[1] .. id, 'url', 'capacity', 'draining', 'startedAt')
    if rec[1] and rec[2] and rec[3] ~= '1' then
      servers[#servers + 1] = { id = id, load = tonumber(entries[i + 1]), capacity = tonumber(rec[2]), url = rec[1], beat = beat,
        startedAt = rec[4] or '0', nonces = {} }
    end
  end
end
local rows, picks = {}, {}
for r = 0, tonumber(ARGV[3]) - 1 do
  local a = 4 + r * 4
  local oldest, exclude = now - tonumber(ARGV[a]), ARGV[a + 3]
  local best = nil
  for _, s in ipairs(servers) do
    if s.id ~= exclude and s.load < s.capacity and tonumber(s.beat) >= oldest and (best == nil or s.load < best.load) then best = s end
  end
  if best == nil then
    picks[#picks + 1] = 0
    picks[#picks + 1] = 0
  else
    if not best.row then
      rows[#rows + 1] = { best.id, best.url, tostring(best.capacity), best.beat, best.startedAt }
      best.row = #rows
    end
    picks[#picks + 1] = best.row
    picks[#picks + 1] = best.load
    best.load = best.load + 1
    best.nonces[#best.nonces + 1] = ARGV[a + 2]
    best.nonces[#best.nonces + 1] = ARGV[a + 1]
  end
end
for _, s in ipairs(servers) do
  if #s.nonces > 0 then
    redis.call('ZINCRBY', KEYS[1], #s.nonces / 2, s.id)
    redis.call('ZADD', ARGV[2] .. s.id, unpack(s.nonces))
  end
end
local out = { #rows }
for _, row in ipairs(rows) do
  for _, v in ipairs(row) do out[#out + 1] = v end
end
for _, p in ipairs(picks) do out[#out + 1] = p end
return out
`

/**
 * Evict servers whose heartbeat is older than ARGV[1] ms, and load entries
 * with no heartbeat at all. Idempotent: a second checker finds nothing.
 * KEYS: load set, alive set. ARGV: timeout ms, server hash prefix, reservations prefix.
 */
export const EVICT = `
${NOW_MS}
local evicted = {}
local function evict (id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('DEL', ARGV[2] .. id, ARGV[3] .. id)
  evicted[#evicted + 1] = id
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - tonumber(ARGV[1])))) do evict(id) end
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('ZSCORE', KEYS[2], id) == false then evict(id) end
end
return evicted
`

/**
 * Remove one server's presence entries (found through its channel index).
 * KEYS: presence index of the server, alive set. ARGV: server id, alive window ms, presence key prefix.
 * Returns a flat list: channel, user, gone (1 when no live server still has the user there), …
 */
export const DROP_PRESENCE = `
${NOW_MS}
local oldest = now - tonumber(ARGV[2])
local suffix = '|' .. ARGV[1]
local out = {}
for _, channel in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[3] .. channel
  for _, m in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    if string.sub(m, -#suffix) == suffix then
      redis.call('ZREM', key, m)
      local user = string.sub(m, 1, #m - #suffix)
      local gone = 1
      for _, other in ipairs(redis.call('ZRANGEBYLEX', key, '[' .. user .. '|', '[' .. user .. '|\\255')) do
        local beat = redis.call('ZSCORE', KEYS[2], string.sub(other, #user + 2))
        if beat and tonumber(beat) >= oldest then gone = 0 end
      end
      out[#out + 1] = channel
      out[#out + 1] = user
      out[#out + 1] = gone
    end
  end
end
redis.call('DEL', KEYS[1])
return out
`
