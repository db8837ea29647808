/**
 * Lua scripts for the Redis store, loaded with ioredis `defineCommand`
 * (EVALSHA, falling back to EVAL once per connection).
 * Time comes from Redis (`TIME`), so heartbeats written by one machine and
 * read by another never depend on their clocks agreeing.
 */

const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/**
 * Append to history and publish live, atomically: a live message is always in
 * history, and its offset is the stream id.
 * KEYS: history stream, dedup key. ARGV: live channel, frame prefix, max length, dedup ttl ms (0 = no mid).
 * Returns { offset, duplicate (0|1) }.
 */
export const APPEND = `
if ARGV[4] ~= '0' then
  local seen = redis.call('GET', KEYS[2])
  if seen then return { seen, 1 } end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'f', ARGV[2])
redis.call('PUBLISH', ARGV[1], ARGV[2] .. id .. '"}')
if ARGV[4] ~= '0' then redis.call('SET', KEYS[2], id, 'PX', ARGV[4]) end
return { id, 0 }
`

/**
 * Register or refresh a socket server.
 * KEYS: load set, alive set, server hash. ARGV: id, url, capacity, draining (0|1), startedAt, connections.
 */
export const HEARTBEAT = `
${NOW_MS}
redis.call('HSET', KEYS[3], 'url', ARGV[2], 'capacity', ARGV[3], 'draining', ARGV[4], 'startedAt', ARGV[5])
redis.call('ZADD', KEYS[1], 'NX', ARGV[6], ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[1])
return now
`

/**
 * The least-loaded eligible server: alive within ARGV[1] ms, not draining, under capacity.
 * KEYS: load set, alive set. ARGV: alive window ms, server hash key prefix.
 * Returns { id, url, load, capacity, lastHeartbeat, startedAt } or nil.
 */
export const PICK = `
${NOW_MS}
local oldest = now - tonumber(ARGV[1])
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #entries, 2 do
  local id = entries[i]
  local load = tonumber(entries[i + 1])
  local beat = redis.call('ZSCORE', KEYS[2], id)
  if beat and tonumber(beat) >= oldest then
    local rec = redis.call('HMGET', ARGV[2] .. id, 'url', 'capacity', 'draining', 'startedAt')
    if rec[1] and rec[2] and load < tonumber(rec[2]) and rec[3] ~= '1' then
      return { id, rec[1], entries[i + 1], rec[2], beat, rec[4] or '0' }
    end
  end
end
return nil
`
