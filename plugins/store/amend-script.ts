/**
 * Edits and deletes (Store.amend) on Redis. An amendment is stored like a
 * message, after the channel's newest one (so it reaches listeners, and is
 * replayed by recovery, exactly once and in order), and the message it
 * amends is rewritten in place to its latest version: `history` and the
 * conversation list serve only that. A stream entry cannot be changed, and
 * XDEL only marks it (its bytes stay in the stream's node, in memory and in
 * RDB files), so the tail of the stream from the amended message's node on
 * is deleted and stored again under the same ids: a node holds at most
 * `stream-node-max-entries` (100 by default) entries, so deleting the 99
 * before it as well frees that node, and a deleted message's text is kept in
 * no key afterwards. The cost is one copy of the tail: at most HISTORY_SIZE
 * entries, once per amendment.
 *
 * Stream entry fields: `f` the frame up to its offset, `n` the channel's message count at it (an amendment does not
 * count: it repeats the one before), `t` on an amendment (the offset it amends), `d` on a deleted message.
 */
import { luaFinish, luaStoredField } from './message-frame.js'
import { TRIM } from './scripts.js'

/** How many entries before an amended one are stored again: a stream node holds at most this many (Redis's default). */
export const STREAM_NODE_ENTRIES = 100

/**
 * Only a channel's newest messages can be changed: at most AMEND_WINDOW entries may follow the target, and the
 * entries stored again (its node and what follows) at most AMEND_MAX_BYTES. That bounds what one change costs Redis
 * (one copy of at most ~200 entries and 2 MiB), whatever the channel holds.
 */
export const AMEND_WINDOW = 100
export const AMEND_MAX_BYTES = 2 * 1024 * 1024

/**
 * KEYS: stream, meta, dedup key (or the stream again: none), members and mutes (a room's; or the stream again).
 * ARGV: fresh epoch, ttl ms, target offset, 'edit'|'delete', new data JSON (edit), edit time ms, the prefix of the
 * amendment's frame (up to its epoch), the head of the sender's frames ('' = anyone may: a moderator), sender,
 * 1 = has a dedup key, 1 = must be a member, dedup ttl ms, history size, PUBLISH|SPUBLISH, live channels….
 * Returns { status, offset, epoch, prev, frame }: status 'ok', 'dup' (offset: the amendment's), 'forbidden' (not a
 * member), 'muted', 'missing' (no such message: never stored, trimmed, an amendment, or deleted), 'author' (not the
 * sender's), 'old' (not among the newest: see AMEND_WINDOW).
 */
export const AMEND = `
${TRIM}
local stream, meta = KEYS[1], KEYS[2]
local target, kind, data, at, prefix, head, sender = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
if ARGV[11] == '1' and redis.call('SISMEMBER', KEYS[4], sender) == 0 then return { 'forbidden' } end
if ARGV[11] == '1' and redis.call('SISMEMBER', KEYS[5], sender) == 1 then return { 'muted' } end
if ARGV[10] == '1' then
  local seen = redis.call('GET', KEYS[3])
  if seen then return { 'dup', seen } end
end
local m = redis.call('HMGET', meta, 'epoch', 'top', 'n')
if not m[1] then return { 'missing' } end
local epoch, top, n = m[1], m[2] or '0-0', m[3] or '0'
local found = redis.call('XRANGE', stream, target, target)
if #found == 0 then return { 'missing' } end
local function fieldsOf (entry)
  local out = {}
  for i = 1, #entry[2], 2 do out[entry[2][i]] = entry[2][i + 1] end
  return out
end
local original = fieldsOf(found[1])
if original.t or original.d then return { 'missing' } end
if head ~= '' and string.sub(original.f, 1, #head) ~= head then return { 'author' } end

-- What is stored again: from the target's node (up to 99 entries before it) to the newest, bounded.
local after = redis.call('XRANGE', stream, '(' .. target, '+', 'COUNT', ${AMEND_WINDOW} + 1)
if #after > ${AMEND_WINDOW} then return { 'old' } end
local back = redis.call('XREVRANGE', stream, target, '-', 'COUNT', ${STREAM_NODE_ENTRIES})
local first = back[#back][1]
local tail = redis.call('XRANGE', stream, first, '+')
local bytes = 0
for _, entry in ipairs(tail) do bytes = bytes + #entry[2][2] end
if bytes > ${AMEND_MAX_BYTES} then return { 'old' } end

-- The frame with its data replaced: the data runs from the first "data": (the fields before it are names) to the last
-- ,"ts": (after the data come only ts, epoch and prev). An earlier edit's "edited" is in that run, and goes too.
local function rewrite (frame, newData, mark)
  local d = string.find(frame, '"data":', 1, true)
  local ts, from = nil, d
  while d do
    local i = string.find(frame, ',"ts":', from, true)
    if not i then break end
    ts, from = i, i + 1
  end
  if not d or not ts then return frame end
  return string.sub(frame, 1, d - 1) .. '"data":' .. newData .. mark .. string.sub(frame, ts)
end

-- Every entry's new fields first (nothing is deleted before all are ready), then the tail is stored again.
local again = {}
for i, entry in ipairs(tail) do
  local e = fieldsOf(entry)
  local frame, deleted = e.f, e.d
  if entry[1] == target then
    if kind == 'delete' then
      frame, deleted = rewrite(frame, 'null', ',"deleted":true'), '1'
    else
      frame = rewrite(frame, data, ',"edited":' .. at)
    end
  elseif e.t == target and kind == 'delete' then
    -- An earlier edit of a deleted message: its text goes too.
    local x = string.find(frame, '"edit":"', 1, true)
    if x then frame = string.sub(frame, 1, x - 1) .. '"delete":"' .. string.sub(frame, x + 8) end
    frame = rewrite(frame, 'null', '')
  end
  local fields = { 'f', frame, 'n', e.n or '0' }
  if e.t then fields[#fields + 1] = 't'; fields[#fields + 1] = e.t end
  if deleted then fields[#fields + 1] = 'd'; fields[#fields + 1] = deleted end
  again[i] = fields
end
local ids = {}
for i, entry in ipairs(tail) do ids[i] = entry[1] end
for i = 1, #ids, 1000 do redis.call('XDEL', stream, unpack(ids, i, math.min(i + 999, #ids))) end
local kept = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
if #kept > 0 then redis.call('XSETID', stream, kept[1][1]) else redis.call('DEL', stream) end
for i, entry in ipairs(tail) do redis.call('XADD', stream, entry[1], unpack(again[i])) end

-- The amendment, stored like a message after the newest (it does not count as one: its n repeats the one before).
local f = ${luaStoredField('prefix', 'epoch', 'top')}
local id = redis.call('XADD', stream, '*', 'f', f, 'n', n, 't', target)
if ARGV[10] == '1' then redis.call('SET', KEYS[3], id, 'PX', ARGV[12]) end
redis.call('HSET', meta, 'top', id)
-- Trimmed as an append trims: amendments make history grow too.
trim(stream, meta, tonumber(ARGV[13]))
redis.call('PEXPIRE', stream, ARGV[2])
redis.call('PEXPIRE', meta, ARGV[2])

local live = ${luaFinish('f', 'id')}
for i = 15, #ARGV do redis.call(ARGV[14], ARGV[i], live) end
return { 'ok', id, epoch, top, live }
`
