/**
 * Lua scripts for read state and the conversation list (redis-reads.ts runs
 * them). A channel counts its messages (`n` in its meta, and each stream
 * entry's `n` is the count up to it), so a read position is kept as an offset
 * and the count at it, and an unread count is one subtraction, never a scan.
 * Read positions live in the user's slot; receipts and counts in the
 * channel's, so one `read` is one call in each.
 */
import { COMPARE } from './scripts.js'
import { luaFinish } from './message-frame.js'

/**
 * Where `offset` stands in a channel: clamped to its newest message, the count of messages up to it (the entry at
 * or before it carries its count; before every kept entry, the first one's less one; an entry stored before counting
 * began counts as 0), and the count of the user's own messages up to it (theirs now, less those after it: a frame
 * of theirs begins with ARGV[7]). Then the member's receipt moves there (never back; with `initial`, only when they
 * have none in this epoch), unless the channel is a room of more than `max` members.
 * KEYS: stream, meta, receipts, members (a room's; for a direct conversation any key of its slot).
 * ARGV: user, offset, ttl ms, max members with receipts, 1 = a room, 1 = initial, the head of the user's frames.
 * Returns {} when the channel has no history, else { epoch, offset, count at it, count, 1|0 the receipt moved, own
 * count at it, own count }.
 */
export const MARK_AT = `
${COMPARE}
local m = redis.call('HMGET', KEYS[2], 'epoch', 'top', 'n', 'n:' .. ARGV[1])
if not m[1] then return {} end
local epoch, top, n, own = m[1], m[2] or '0-0', tonumber(m[3] or '0'), tonumber(m[4] or '0')
local offset = ARGV[2]
local function countOf (entry)
  local fields = entry[2]
  for i = 3, #fields, 2 do if fields[i] == 'n' then return tonumber(fields[i + 1]) end end
  return 0
end
local seq, ownSeq = n, own
if cmp(offset, top) >= 0 then
  offset = top
else
  local at = redis.call('XREVRANGE', KEYS[1], offset, '-', 'COUNT', 1)
  if #at > 0 then
    seq = countOf(at[1])
  else
    local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
    seq = #first > 0 and math.max(countOf(first[1]) - 1, 0) or n
  end
  local head = ARGV[7]
  -- At most the 100 entries after it (a position further back is rare: what the user saw): their own beyond count not.
  for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '(' .. offset, top, 'COUNT', 100)) do
    -- An amendment (an edit, a delete: it has a field t) is not a message.
    if string.sub(entry[2][2], 1, #head) == head and entry[2][5] ~= 't' then ownSeq = ownSeq - 1 end
  end
end
local moved = 0
if ARGV[5] ~= '1' or redis.call('SCARD', KEYS[4]) <= tonumber(ARGV[4]) then
  local old = redis.call('HGET', KEYS[3], ARGV[1])
  local oe, oo = nil, nil
  if old then oe, oo = string.match(old, '^(%S+) (%S+)$') end
  if oe ~= epoch or (ARGV[6] ~= '1' and cmp(oo, offset) < 0) then
    redis.call('HSET', KEYS[3], ARGV[1], epoch .. ' ' .. offset)
    redis.call('PEXPIRE', KEYS[3], ARGV[3])
    moved = 1
  end
end
return { epoch, offset, seq, n, moved, math.max(ownSeq, 0), own }
`

/**
 * The user's read position in a channel moves to (epoch, offset, count, own count): never back, and with `initial`
 * only when they have none in this epoch. The oldest-read positions beyond `max` are dropped.
 * KEYS: reads, read order. ARGV: channel, epoch, offset, count, own count, 1 = initial, ttl ms, max.
 * Returns { 1|0 moved, the offset kept, its count, its own count }.
 */
export const MARK_READ = `
${COMPARE}
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local e, o, c, mine = string.match(old, '^(%S+) (%S+) (%d+) (%d+)$')
  if e == ARGV[2] and (ARGV[6] == '1' or cmp(o, ARGV[3]) >= 0) then return { 0, o, c, mine } end
end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. ARGV[5])
redis.call('ZADD', KEYS[2], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[8])
if over > 0 then
  for i, gone in ipairs(redis.call('ZPOPMIN', KEYS[2], over)) do
    if i % 2 == 1 then redis.call('HDEL', KEYS[1], gone) end
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
return { 1, ARGV[3], ARGV[4], ARGV[5] }
`

/**
 * The user's side of a conversation list page: `limit` direct conversations after the cursor (the page starts
 * right after the cursor's entry when it has not moved since, else after the place it had; expired ones are
 * skipped), every room they are in, and the read position of each.
 * KEYS: the conversation list, rooms (the list again: no rooms), reads. ARGV: cursor at ('+' for the first page), cursor channel, limit,
 * oldest at kept, room channel prefix ('room:').
 * Returns { D, then per direct conversation: channel, at, read ('' = none); then per room: channel, read }.
 */
export const LIST_OF_USER = `
local limit, oldest = tonumber(ARGV[3]), tonumber(ARGV[4])
local page
if ARGV[1] == '+' then
  page = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', '(' .. oldest, 'WITHSCORES', 'LIMIT', 0, limit)
else
  local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
  if score and tonumber(score) == tonumber(ARGV[1]) then
    local rank = redis.call('ZREVRANK', KEYS[1], ARGV[2])
    page = redis.call('ZREVRANGE', KEYS[1], rank + 1, rank + limit, 'WITHSCORES')
  else
    -- The cursor's entry moved (a new message): go on after its old place, equal times by channel, descending.
    local ties = redis.call('ZCOUNT', KEYS[1], ARGV[1], ARGV[1])
    local all = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '(' .. oldest, 'WITHSCORES', 'LIMIT', 0, limit + ties)
    page = {}
    for i = 1, #all, 2 do
      if (tonumber(all[i + 1]) < tonumber(ARGV[1]) or all[i] < ARGV[2]) and #page < 2 * limit then
        page[#page + 1] = all[i]
        page[#page + 1] = all[i + 1]
      end
    end
  end
end
local out, names = { 0 }, {}
for i = 1, #page, 2 do
  if tonumber(page[i + 1]) > oldest then
    out[#out + 1] = page[i]
    out[#out + 1] = page[i + 1]
    out[#out + 1] = ''
    names[#names + 1] = page[i]
  end
end
out[1] = #names
-- Without rooms, KEYS[2] is the list itself (a key of the same slot).
local rooms = KEYS[2] == KEYS[1] and {} or redis.call('SMEMBERS', KEYS[2])
for _, room in ipairs(rooms) do
  out[#out + 1] = ARGV[5] .. room
  out[#out + 1] = ''
  names[#names + 1] = ARGV[5] .. room
end
if #names > 0 then
  local reads = redis.call('HMGET', KEYS[3], unpack(names))
  local d = out[1]
  for i, read in ipairs(reads) do
    if read then
      if i <= d then out[1 + (i - 1) * 3 + 3] = read else out[1 + d * 3 + (i - d - 1) * 2 + 2] = read end
    end
  end
end
return out
`

/**
 * The heads of some channels of one slot: per channel its epoch ('' = no history), newest offset, count, the count of
 * ARGV[3]'s own messages, its newest message's offset (`last`: not an edit's or a delete's), and (with ARGV[1] = 1)
 * that message's frame when it is at most ARGV[2] bytes ('' otherwise).
 * KEYS: per channel its meta and stream. Returns 6 values per channel.
 */
export const HEADS = `
local out = {}
for c = 1, #KEYS / 2 do
  local m = redis.call('HMGET', KEYS[2 * c - 1], 'epoch', 'top', 'n', 'n:' .. ARGV[3], 'last')
  -- A channel written before 'last' was kept: its newest entry.
  local last = m[5] or m[2] or '0-0'
  local frame = ''
  if m[1] and ARGV[1] == '1' and last ~= '0-0' then
    local entry = redis.call('XRANGE', KEYS[2 * c], last, last)
    if #entry > 0 then
      local f = ${luaFinish('entry[1][2][2]', 'entry[1][1]')}
      if #f <= tonumber(ARGV[2]) then frame = f end
    end
  end
  out[#out + 1] = m[1] or ''
  out[#out + 1] = m[2] or '0-0'
  out[#out + 1] = m[3] or '0'
  out[#out + 1] = m[4] or '0'
  out[#out + 1] = last
  out[#out + 1] = frame
end
return out
`

/**
 * A channel's receipts in its current epoch, of its members only (a room's: none above ARGV[1] members).
 * KEYS: meta, receipts, members (a room's; the receipts again for a direct conversation). Returns { user, offset, … }.
 */
export const RECEIPTS = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local out = {}
if not epoch then return out end
local room = KEYS[3] ~= KEYS[2]
if room and redis.call('SCARD', KEYS[3]) > tonumber(ARGV[1]) then return out end
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local e, o = string.match(all[i + 1], '^(%S+) (%S+)$')
  if e == epoch and (not room or redis.call('SISMEMBER', KEYS[3], all[i]) == 1) then
    out[#out + 1] = all[i]
    out[#out + 1] = o
  end
end
return out
`
