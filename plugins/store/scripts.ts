/**
 * Lua scripts for the Redis store, loaded with ioredis `defineCommand`
 * (EVALSHA, falling back to EVAL once per connection); the two batch scripts,
 * `APPEND_BATCH` and `RESERVE_BATCH`, go through `BulkScript` (bulk-script.ts).
 * Time comes from Redis (`TIME`), so heartbeats written by one machine and
 * read by another never depend on their clocks agreeing.
 */
import { LUA_LIVE_SEPARATOR, luaFinish, luaStoredField } from './message-frame.js'

/**
 * Liveness must not share fate with data. At `maxmemory` (noeviction) Redis
 * refuses every command that may grow memory, and a heartbeat refused looks
 * like a dead server: the health checker would evict the whole fleet. The
 * fleet scripts (heartbeat, reservation, claim and release, eviction, drain
 * requests, announcements) are therefore declared with Redis 7's `allow-oom`
 * flag: Redis runs them, writes included, while it refuses data (appends,
 * joins, new presence entries). What they write is small and bounded by the
 * fleet, not by traffic: one record per server, one entry per connection or
 * unused reservation (capped per user), one counter per rate-limited caller.
 * The flag is read from the script's first line, for EVAL and EVALSHA alike;
 * Redis before 7 refuses such a script, so Switchboard needs Redis ≥ 7.
 * Presence entries stay without the flag: they grow with rooms, and the socket
 * server records again the ones that failed (socket/presence.ts).
 */
export function allowOom (body: string): string {
  return `#!lua flags=allow-oom\n${body.replace(/^\n+/, '')}`
}

const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/** Offsets are stream ids `<ms>-<seq>`; compare them numerically. */
export const COMPARE = `local function cmp (a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  if am ~= bm then return am < bm and -1 or 1 end
  if as ~= bs then return as < bs and -1 or 1 end
  return 0
end`

/**
 * A channel's meta hash (epoch, top, trimmed; last, the newest message's
 * offset, not an edit's or a delete's; for unread counts n, the messages
 * stored in this epoch, and n:<sender>, those of each sender) lives and expires with its stream. Missing meta
 * means history is gone: start a new epoch, unless the caller only reads a
 * direct conversation (`create` false), which is then reported in the
 * NO_HISTORY epoch '-' and not created: reading one costs the store nothing.
 * ARGV[1]: a fresh epoch, ARGV[2]: ttl ms.
 */
const ENSURE_META = `local function ensure (stream, meta, create)
  local m = redis.call('HMGET', meta, 'epoch', 'top', 'trimmed', 'n')
  if m[1] then return m[1], m[2] or '0-0', m[3] or '0-0', tonumber(m[4] or '0') end
  if not create then return '-', '0-0', '0-0', 0 end
  -- Only when there is one: under maxmemory, a script's first write decides whether it may write at all.
  if redis.call('EXISTS', stream) == 1 then redis.call('DEL', stream) end
  redis.call('HSET', meta, 'epoch', ARGV[1], 'top', '0-0', 'trimmed', '0-0')
  redis.call('PEXPIRE', meta, ARGV[2])
  return ARGV[1], '0-0', '0-0', 0
end`

/**
 * Storage quotas: what one sender's messages made the store keep in the
 * current window, in one hash per sender (`m` messages, `b` bytes, and one
 * field per channel written, named by its stream key) that expires when the
 * window ends. `charge` counts one message of `bytes` to `target`, or refuses
 * it with 'q' .. budget (m, b or c) .. ':' .. ms until the window ends. A
 * sender's hash is read once per call and written once, by `settle`, however
 * many of its messages the call holds.
 * Q = { window ms, max messages, max bytes, max channels }, 0 = that budget is off.
 */
const QUOTA = `local Q = {}
local quotaUse, quotaOrder = {}, {}
local function charge (key, target, bytes)
  local u = quotaUse[key]
  if not u then
    local h = redis.call('HMGET', key, 'm', 'b')
    u = { m = tonumber(h[1] or '0'), b = tonumber(h[2] or '0'), fresh = not h[1], seen = {}, new = {}, dm = 0, db = 0 }
    u.n = u.fresh and 0 or redis.call('HLEN', key) - 2
    quotaUse[key] = u
    quotaOrder[#quotaOrder + 1] = key
  end
  local known = Q[4] == 0 or u.seen[target]
  if not known and not u.fresh and redis.call('HEXISTS', key, target) == 1 then
    u.seen[target] = true
    known = true
  end
  local over = nil
  if Q[2] > 0 and u.m + 1 > Q[2] then over = 'm'
  elseif Q[3] > 0 and u.b + bytes > Q[3] then over = 'b'
  elseif not known and u.n >= Q[4] then over = 'c' end
  if over then return 'q' .. over .. ':' .. (u.fresh and Q[1] or math.max(redis.call('PTTL', key), 0)) end
  u.m, u.b, u.dm, u.db = u.m + 1, u.b + bytes, u.dm + 1, u.db + bytes
  if not known then
    u.seen[target] = true
    u.n = u.n + 1
    u.new[#u.new + 1] = target
  end
  return nil
end
local function settle ()
  for _, key in ipairs(quotaOrder) do
    local u = quotaUse[key]
    if u.dm > 0 then
      redis.call('HINCRBY', key, 'm', u.dm)
      redis.call('HINCRBY', key, 'b', u.db)
      for _, target in ipairs(u.new) do redis.call('HSET', key, target, 1) end
      if u.fresh then redis.call('PEXPIRE', key, Q[1]) end
    end
  end
end`

/**
 * Trims a channel's history exactly, in steps: once it holds more than `maxLen` + 10% (at least one), down to
 * `maxLen`, remembering the newest offset dropped (recovery from before it is impossible).
 */
export const TRIM = `local function trim (stream, meta, maxLen)
  local len = redis.call('XLEN', stream)
  if len <= maxLen + math.max(1, math.floor(maxLen / 10)) then return end
  local excess = len - maxLen
  local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', excess + 1)
  redis.call('XTRIM', stream, 'MINID', head[excess + 1][1])
  redis.call('HSET', meta, 'trimmed', head[excess][1])
end`

/**
 * A user's conversation list: `channel` moved to `at` (never back), the
 * oldest beyond `max` dropped when one is added, the list itself kept as long
 * as its newest conversation's history (expired entries are skipped when read).
 */
const TOUCH_LIST = `local function touch (list, channel, at, max, ttl)
  if redis.call('ZADD', list, 'GT', at, channel) == 1 and redis.call('ZCARD', list) > max then
    redis.call('ZREMRANGEBYRANK', list, 0, -(max + 1))
  end
  redis.call('PEXPIRE', list, ttl)
end`

/**
 * Appends, atomically with their history: a live message is always in history,
 * and its offset is the stream id. One call holds what a socket server gathered
 * during one turn of its event loop (on Redis Cluster, that turn's entries of one
 * slot). Each entry is checked (room membership, a repeated (sender, mid), the
 * sender's quota) and appended in order, its frame given the channel's epoch and
 * its offset; then each channel that got messages is trimmed exactly
 * (remembering the newest dropped offset: recovery from before it is
 * impossible), refreshed and published once on each of its live channels
 * (PUBLISH, or SPUBLISH on Redis Cluster where only a room's own live channel is
 * in its slot), its frames joined by newlines (a JSON frame never holds a raw
 * newline; subscribers split them), and a direct conversation moved to the top
 * of its users' conversation lists. So a busy channel costs its meta, trim and
 * expiry calls and one PUBLISH per batch instead of per message.
 * KEYS and ARGV: as built by batchCall() in append-batch.ts, the one definition of the layout.
 * Returns one string per entry (see entryResult()), then the epoch of each channel ('' if it got none), then
 * each channel's newest offset before this call (the `prev` of its first message here; '' if it got none).
 */
export const APPEND_BATCH = `
${ENSURE_META}
${TRIM}
${QUOTA}
${TOUCH_LIST}
local C, E, S = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
Q = { tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]) }
local maxConversations, ttl = tonumber(ARGV[13]), tonumber(ARGV[2])
local maxLen = tonumber(ARGV[3])
local a, k = 14, 2 * C + 1
local lives, lists, names = {}, {}, {}
for c = 1, C do
  local l = {}
  for i = 1, tonumber(ARGV[a]) do l[i] = ARGV[a + i] end
  a = a + #l + 1
  lives[c] = l
  local x = {}
  for i = 1, tonumber(ARGV[a]) do x[i] = KEYS[k]; k = k + 1 end
  a = a + 1
  if #x > 0 then names[c] = ARGV[a]; a = a + 1 end
  lists[c] = x
end
local quotas = {}
for s = 1, S do quotas[s] = KEYS[k]; k = k + 1 end
local out, frames, tops, epochs, starts, order, counts, senders = {}, {}, {}, {}, {}, {}, {}, {}
for _ = 1, E do
  local c, prefix, flags, sender = tonumber(ARGV[a]), ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3]
  a = a + 4
  local quota = false
  if S > 0 then quota = quotas[tonumber(ARGV[a])]; a = a + 1 end
  local dedup, result = false, nil
  if flags % 2 == 1 then dedup = KEYS[k]; k = k + 1 end
  if flags % 4 >= 2 then
    if redis.call('SISMEMBER', KEYS[k], sender) == 0 then result = ''
    elseif redis.call('SISMEMBER', KEYS[k + 1], sender) == 1 then result = 'm' end
    k = k + 2
  end
  local blocks = nil
  if flags % 8 >= 4 then
    blocks = { KEYS[k], KEYS[k + 1], ARGV[a] }
    k, a = k + 2, a + 1
  end
  if result == nil and dedup then
    local seen = redis.call('GET', dedup)
    if seen then result = 'd' .. seen end
  end
  if result == nil and blocks and (redis.call('SISMEMBER', blocks[1], blocks[3]) == 1 or redis.call('SISMEMBER', blocks[2], blocks[3]) == 1) then
    result = 'b'
  end
  if result == nil and quota then result = charge(quota, KEYS[2 * c - 1], #prefix) end
  if result == nil then
    local stream = KEYS[2 * c - 1]
    if not frames[c] then
      local _
      epochs[c], tops[c], _, counts[c] = ensure(stream, KEYS[2 * c], true)
      starts[c] = tops[c]
      frames[c] = {}
      senders[c] = {}
      order[#order + 1] = c
    end
    local f = ${luaStoredField('prefix', 'epochs[c]', 'tops[c]')}
    counts[c] = counts[c] + 1
    local id = redis.call('XADD', stream, '*', 'f', f, 'n', counts[c])
    local mine = senders[c]
    mine[sender] = (mine[sender] or 0) + 1
    if dedup then redis.call('SET', dedup, id, 'PX', ARGV[4]) end
    local list = frames[c]
    list[#list + 1] = ${luaFinish('f', 'id')}
    tops[c] = id
    result = id
  end
  out[#out + 1] = result
end
for _, c in ipairs(order) do
  local stream, meta = KEYS[2 * c - 1], KEYS[2 * c]
  redis.call('HSET', meta, 'top', tops[c], 'n', counts[c], 'last', tops[c])
  for sender, count in pairs(senders[c]) do redis.call('HINCRBY', meta, 'n:' .. sender, count) end
  trim(stream, meta, maxLen)
  redis.call('PEXPIRE', stream, ttl)
  redis.call('PEXPIRE', meta, ttl)
  local payload = table.concat(frames[c], ${LUA_LIVE_SEPARATOR})
  for _, live in ipairs(lives[c]) do redis.call(ARGV[5], live, payload) end
  local at = tonumber(string.match(tops[c], '^(%d+)'))
  for _, list in ipairs(lists[c]) do touch(list, names[c], at, maxConversations, ttl) end
end
settle()
for c = 1, C do out[#out + 1] = epochs[c] or '' end
for c = 1, C do out[#out + 1] = starts[c] or '' end
return out
`

/**
 * What is checked in the senders' own slots before a batch is appended on Redis Cluster (there, and for an edit or a
 * delete anywhere): a direct message between users of whom one blocked the other is refused ('b'), then the quotas of
 * one slot's senders are charged (their hashes are in their own slots, not the channels').
 * KEYS: per sender (1..S) its quota hash, blocks and blocked-by sets. ARGV: the 4 quota arguments, 1 = charge quotas,
 * N, then per entry: sender index, bytes, target (the channel's stream key), recipient ('' = none).
 * Returns per entry '' (let through) or the refusal.
 */
export const QUOTA_BATCH = `
${QUOTA}
Q = { tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]) }
local out = {}
for e = 0, tonumber(ARGV[6]) - 1 do
  local a = 7 + e * 4
  local s, to = tonumber(ARGV[a]), ARGV[a + 3]
  local result = nil
  if to ~= '' and (redis.call('SISMEMBER', KEYS[3 * s - 1], to) == 1 or redis.call('SISMEMBER', KEYS[3 * s], to) == 1) then result = 'b' end
  if result == nil and ARGV[5] == '1' then result = charge(KEYS[3 * s - 2], ARGV[a + 2], tonumber(ARGV[a + 1])) end
  out[#out + 1] = result or ''
end
settle()
return out
`

/**
 * Redis Cluster: a direct conversation's frames reach one of its users (the
 * conversation's slot is not theirs): published on their personal live channel
 * and the conversation moved to the top of their list, in one call in their slot.
 * KEYS: the list. ARGV: live channel ('' = publish nothing: a retry's duplicate), frames (joined by
 * newlines), channel, at, max, ttl ms.
 */
export const DELIVER_TO_USER = `
${TOUCH_LIST}
if ARGV[1] ~= '' then redis.call('SPUBLISH', ARGV[1], ARGV[2]) end
touch(KEYS[1], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
`

/** KEYS: stream, meta. ARGV: fresh epoch, ttl ms, create (1|0). Returns { epoch, top }. */
export const POSITION = `
${ENSURE_META}
local epoch, top = ensure(KEYS[1], KEYS[2], ARGV[3] == '1')
return { epoch, top }
`

/**
 * Reads forward from `after` (exclusive) to `upTo` (inclusive) into `out`, oldest first, each as its
 * offset and then its frame: at most `limit` frames and no more than `maxBytes` of them (always at
 * least one). XRANGE in small steps, so a page of big messages never costs Redis more than a few of
 * them beyond the page.
 */
const READ_FORWARD = `local function forward (stream, after, upTo, limit, maxBytes, out)
  local n, bytes, cursor = 0, 0, '(' .. after
  while n < limit do
    local batch = redis.call('XRANGE', stream, cursor, upTo, 'COUNT', math.min(16, limit - n))
    if #batch == 0 then return end
    for _, entry in ipairs(batch) do
      local frame = ${luaFinish('entry[2][2]', 'entry[1]')}
      if n > 0 and bytes + #frame > maxBytes then return end
      out[#out + 1] = entry[1]
      out[#out + 1] = frame
      n, bytes, cursor = n + 1, bytes + #frame, '(' .. entry[1]
    end
  end
end`

/**
 * The first page of everything after ARGV[3] if history still holds all of it (the rest is read
 * with READ_PAGE, up to the `top` returned here). A since in the NO_HISTORY epoch '-' (the client saw a
 * conversation that had none) covers a whole history that nothing was trimmed from.
 * KEYS: stream, meta. ARGV: fresh epoch, ttl ms, since offset, since epoch, page limit, page max bytes, create (1|0).
 * Returns { 1|0 recovered, epoch, top, offset, frame, … }.
 */
export const RECOVER = `
${ENSURE_META}
${COMPARE}
${READ_FORWARD}
local epoch, top, trimmed = ensure(KEYS[1], KEYS[2], ARGV[7] == '1')
local since = ARGV[3]
local same = epoch == ARGV[4] or (ARGV[4] == '-' and trimmed == '0-0')
if not same or cmp(since, trimmed) < 0 or cmp(since, top) > 0 then return { 0, epoch, top } end
local out = { 1, epoch, top }
forward(KEYS[1], since, top, tonumber(ARGV[5]), tonumber(ARGV[6]), out)
return out
`

/**
 * One page of a reply sent in parts (a replay, a long history reply). Reads nothing and creates
 * nothing when ARGV[5] (an epoch) is given and the read would have a gap: the channel has another
 * epoch (or none), or messages after ARGV[1] were trimmed away.
 * KEYS: stream, meta. ARGV: after (exclusive), up to (inclusive), limit, max bytes, epoch ('' = no check).
 * Returns { 1, offset, frame, … }, or { 0 } for a gap.
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
 * frames fit, then offset, frame, … (oldest first, when they fit) }.
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
      local frame = ${luaFinish('entry[2][2]', 'entry[1]')}
      bytes = bytes + #frame
      if bytes > maxBytes and n > 0 then fits, frames = false, {} else frames[#frames + 1] = { entry[1], frame } end
    end
    n, cursor = n + 1, '(' .. entry[1]
  end
end
if upTo == nil then return {} end
local out = { after, upTo, fits and 1 or 0 }
for i = #frames, 1, -1 do
  out[#out + 1] = frames[i][1]
  out[#out + 1] = frames[i][2]
end
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
 * Recording an entry that is already there changes nothing and announces nothing, so a server may record
 * again what it is not sure reached the store.
 */
export const PRESENCE_ADD = `
${OTHERS_ALIVE}
local mine = ARGV[1] .. '|' .. ARGV[2]
local first = not othersAlive(ARGV[1], mine, tonumber(ARGV[3]))
local added = redis.call('ZADD', KEYS[1], 0, mine)
redis.call('SADD', KEYS[3], ARGV[6])
if added == 1 and first and ARGV[5] ~= '' then
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
 * One request against a fixed-window rate limit: the key counts the requests of the
 * current window and expires with it. Returns the count (this one included) and the
 * ms left in the window.
 */
const RATE_HIT = `local function hit (key, windowMs)
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('PEXPIRE', key, windowMs) end
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, windowMs)
    ttl = windowMs
  end
  return count, ttl
end`

/** KEYS: the counter. ARGV: window ms. Returns { count, ms left in the window }. */
export const RATE = allowOom(`
${RATE_HIT}
local count, ttl = hit(KEYS[1], tonumber(ARGV[1]))
return { count, ttl }
`)

/**
 * What one user holds across the fleet (see Keys.holds): unused reservations
 * count until their expiry plus the grace (as in the server's reservations),
 * connections while their server is in the alive set. What no longer counts is
 * removed on the way. Returns the count, and the ms until the oldest unused
 * reservation stops counting (0 when there is none).
 */
const HOLDS = `local function holdsOf (key, alive, now, grace)
  redis.call('ZREMRANGEBYSCORE', key, '(0', '(' .. (now - grace))
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, 0, 0)) do
    if redis.call('ZSCORE', alive, string.match(m, '^[^|]*')) == false then redis.call('ZREM', key, m) end
  end
  local oldest = redis.call('ZRANGEBYSCORE', key, '(0', '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  local wait = 0
  if oldest[2] then wait = math.max(1, tonumber(oldest[2]) + grace - now) end
  return redis.call('ZCARD', key), wait
end`

/**
 * Register or refresh a socket server, and reconcile its load to the truth:
 * live connections plus reservations neither claimed nor expired.
 * KEYS: load set, alive set, server hash, reservations.
 * ARGV: id, url, capacity, draining (0|1), startedAt, connections, grace ms, messages/s ('' = not reported).
 * Returns { readmitted, drain requested }: readmitted is 1 when the server was
 * not in the fleet (first start, or evicted meanwhile); drain requested is 1
 * once an admin asked it to drain (REQUEST_DRAIN), until its record is removed.
 */
export const HEARTBEAT = allowOom(`
${NOW_MS}
local readmitted = redis.call('ZSCORE', KEYS[2], ARGV[1]) == false and 1 or 0
local drain = redis.call('HEXISTS', KEYS[3], 'drainRequestedAt')
redis.call('HSET', KEYS[3], 'url', ARGV[2], 'capacity', ARGV[3], 'draining', ARGV[4], 'startedAt', ARGV[5], 'connections', ARGV[6])
if ARGV[8] ~= '' then redis.call('HSET', KEYS[3], 'rate', ARGV[8]) end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. (now - tonumber(ARGV[7])))
redis.call('ZADD', KEYS[1], tonumber(ARGV[6]) + redis.call('ZCARD', KEYS[4]), ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[1])
return { readmitted, drain }
`)

/**
 * Ask a socket server to drain: a mark in its record that its next heartbeat
 * reads. Only for a server that has a record. KEYS: server hash.
 * Returns 1 when recorded (or already requested), 0 for an unknown server.
 */
export const REQUEST_DRAIN = allowOom(`
${NOW_MS}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSETNX', KEYS[1], 'drainRequestedAt', now)
return 1
`)

/** Remove a server from every fleet structure. KEYS: load set, alive set, server hash, reservations. ARGV: id. */
export const DEREGISTER = allowOom(`
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3], KEYS[4])
`)

/**
 * A registry or health checker says it is alive: last seen (store clock) in
 * the role's sorted set, details in a hash that expires unless refreshed.
 * KEYS: the role's set, the component's hash. ARGV: id, startedAt, details (JSON), ttl ms.
 */
export const ANNOUNCE = allowOom(`
${NOW_MS}
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HSET', KEYS[2], 'startedAt', ARGV[2], 'details', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
`)

/** Forget a component at once. KEYS: the role's set, the component's hash. ARGV: id. */
export const RETIRE = allowOom(`
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
`)

/**
 * The components of a role whose details have not expired; the others are
 * forgotten on the way. KEYS: the role's set. ARGV: the role's hash prefix.
 * Returns a flat list: id, last seen, startedAt, details, …
 */
export const COMPONENTS = allowOom(`
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
`)

/**
 * Reserve places on the least-loaded eligible servers (alive within the
 * request's window, not draining, under capacity, not the request's excluded
 * one), for every request a registry gathered during one turn of its event
 * loop. Each place is counted in the load set at once, so concurrent
 * allocations spread out, and remembered as a reservation (its nonce, until
 * expiresAt) that the socket server claims on connect. The fleet is read
 * once, each request takes the least-loaded eligible server given the places
 * taken before it in the batch (the server it avoids only when no other is
 * eligible), and each chosen server gets one ZINCRBY and one ZADD of all its
 * nonces.
 * Each place is also one of its user's holds (Keys.holds). A request with a
 * budget is checked first, in the same step: its user's request counter for
 * the window (every attempt counts), then the user's holds across the fleet
 * (connections plus unused reservations, this batch's included). So a per-user
 * cap and rate cost no extra round trip. A request without a budget (a
 * draining server moving its own clients) is never refused for them.
 * (Every key is in the fleet's slot, so this runs on Redis Cluster as well.)
 * KEYS: load set, alive set, then per request: its user's holds, its user's rate counter.
 * ARGV: server hash prefix, reservations prefix, N, grace ms, holds ttl ms, then per request:
 *   alive window ms, nonce, expiresAt, excluded id, max holds (0 = no cap), max requests per window (0 = no limit), window ms,
 *   avoided id ('' = none).
 * Returns the chosen servers once each, then two numbers per request: { R, R rows of id, url, capacity,
 * lastHeartbeat, startedAt, then per request its row (1..R) and the load it saw, or 0 and 0 (no server),
 * -1 and ms (over its holds cap; ms until its oldest unused reservation stops counting, 0 = none),
 * -2 and ms (rate limited; ms left in the window) }. A storm of requests for a few servers comes back
 * as a few rows and a list of small integers.
 */
export const RESERVE_BATCH = allowOom(`
${NOW_MS}
${RATE_HIT}
${HOLDS}
local grace, holdsTtl = tonumber(ARGV[4]), ARGV[5]
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
local rows, picks, held = {}, {}, {}
for r = 0, tonumber(ARGV[3]) - 1 do
  local a = 6 + r * 8
  local holds, rate = KEYS[3 + 2 * r], KEYS[4 + 2 * r]
  local maxHolds, rateMax = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  local refusal, wait = 0, 0
  if rateMax > 0 then
    local count, ttl = hit(rate, tonumber(ARGV[a + 6]))
    if count > rateMax then refusal, wait = -2, ttl end
  end
  if refusal == 0 and maxHolds > 0 then
    local count, oldest = holdsOf(holds, KEYS[2], now, grace)
    if count >= maxHolds then refusal, wait = -1, oldest end
  end
  local best = nil
  if refusal == 0 then
    local oldest, exclude, avoid, fallback = now - tonumber(ARGV[a]), ARGV[a + 3], ARGV[a + 7], nil
    for _, s in ipairs(servers) do
      if s.id ~= exclude and s.load < s.capacity and tonumber(s.beat) >= oldest then
        if s.id == avoid then fallback = s
        elseif best == nil or s.load < best.load then best = s end
      end
    end
    if best == nil then best = fallback end
  end
  if best == nil then
    picks[#picks + 1] = refusal
    picks[#picks + 1] = wait
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
    -- Written at once: a later request of the same user in this batch counts it.
    redis.call('ZADD', holds, ARGV[a + 2], best.id .. '|' .. ARGV[a + 1])
    held[holds] = true
  end
end
for holds in pairs(held) do redis.call('PEXPIRE', holds, holdsTtl) end
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
`)

/**
 * A client connects with its reservation: the reservation is used up (so the token connects
 * once) and its user's hold becomes an open connection's.
 * KEYS: the server's reservations, the user's holds. ARGV: nonce, hold (`<server>|<nonce>`), holds ttl ms.
 * Returns 1, or 0 when the reservation was already used, never made, or has expired.
 */
export const CLAIM = allowOom(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], 0, ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
`)

/**
 * A claimed connection closed (or its upgrade never completed): one less in the server's load
 * (XX: never re-create the entry of a server that left) and its user's hold released.
 * KEYS: load set, the user's holds. ARGV: server id, hold.
 */
export const RELEASE = allowOom(`
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', 'INCR', -1, ARGV[1])
`)

/**
 * Evict servers whose heartbeat is older than ARGV[1] ms, and load entries
 * with no heartbeat at all. Idempotent: a second checker finds nothing.
 * KEYS: load set, alive set. ARGV: timeout ms, server hash prefix, reservations prefix.
 */
export const EVICT = allowOom(`
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
`)

/**
 * Remove one server's presence entries (found through its channel index).
 * KEYS: presence index of the server, alive set. ARGV: server id, alive window ms, presence key prefix.
 * Returns a flat list: channel, user, gone (1 when no live server still has the user there), …
 */
export const DROP_PRESENCE = allowOom(`
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
`)

/**
 * A user blocks (ARGV[2] = 1) or unblocks ARGV[1], within ARGV[3] blocks. KEYS: their blocks set.
 * Returns 'changed', 'unchanged' or 'limit'.
 */
export const SET_BLOCK = `
if ARGV[2] == '1' then
  if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 'unchanged' end
  if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 'limit' end
  redis.call('SADD', KEYS[1], ARGV[1])
  return 'changed'
end
return redis.call('SREM', KEYS[1], ARGV[1]) == 1 and 'changed' or 'unchanged'
`
