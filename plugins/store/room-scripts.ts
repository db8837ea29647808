/**
 * Rooms with owners on Redis: every rule is checked in the room's slot,
 * atomically with the change it allows (a ban and a join cannot cross). Keys:
 * members, room (owner, mode, title, topic), roles, bans, mutes, invites.
 * A room that has no members and no settings is new: its first member owns it.
 */

/** The keys of one room, in the order every script here takes them. */
export const ROOM_KEYS = 6

const ROLE = `local function roleOf (u)
  if redis.call('SISMEMBER', KEYS[1], u) == 0 then return nil end
  return redis.call('HGET', KEYS[3], u) or 'member'
end
local RANK = { owner = 3, moderator = 2, member = 1 }`

/**
 * A member joins. ARGV: user, 1 = the room's rules apply (a ban, invite-only). Returns 'joined' (and 'owner' when the
 * room was new), 'banned' or 'invite_only'. An owner (by role) always gets back in; an invitation is used up.
 */
export const ENTER = `
${ROLE}
local user = ARGV[1]
if redis.call('SISMEMBER', KEYS[1], user) == 1 then return 'joined' end
if ARGV[2] == '1' and redis.call('HGET', KEYS[3], user) ~= 'owner' then
  if redis.call('SISMEMBER', KEYS[4], user) == 1 then return 'banned' end
  if redis.call('HGET', KEYS[2], 'mode') == 'invite' and redis.call('SREM', KEYS[6], user) == 0 then return 'invite_only' end
end
local fresh = redis.call('SCARD', KEYS[1]) == 0 and redis.call('EXISTS', KEYS[2]) == 0
redis.call('SADD', KEYS[1], user)
redis.call('SREM', KEYS[6], user)
if fresh then
  redis.call('HSET', KEYS[2], 'owner', user, 'mode', 'public')
  redis.call('HSET', KEYS[3], user, 'owner')
end
return 'joined'
`

/**
 * A change by ARGV[1] (see Moderation in types.ts). ARGV: by, action, user, role | mode, title (or \\0: unchanged), topic
 * (or \\0). Returns 'ok', 'not_member', 'role', 'target' or 'banned'.
 */
export const MODERATE = `
${ROLE}
local by, action, target = ARGV[1], ARGV[2], ARGV[3]
local mine = roleOf(by)
if not mine then return 'not_member' end
local rank = RANK[mine]
if action == 'settings' then
  if rank < 2 or (ARGV[4] ~= '' and rank < 3) then return 'role' end
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], 'mode', ARGV[4]) end
  if ARGV[5] ~= '\\0' then redis.call('HSET', KEYS[2], 'title', ARGV[5]) end
  if ARGV[6] ~= '\\0' then redis.call('HSET', KEYS[2], 'topic', ARGV[6]) end
  return 'ok'
end
if action == 'invite' then
  if redis.call('HGET', KEYS[2], 'mode') == 'invite' and rank < 2 then return 'role' end
  if redis.call('SISMEMBER', KEYS[4], target) == 1 then return 'banned' end
  if redis.call('SISMEMBER', KEYS[1], target) == 0 then redis.call('SADD', KEYS[6], target) end
  return 'ok'
end
if action == 'unban' then
  if rank < 2 then return 'role' end
  redis.call('SREM', KEYS[4], target)
  return 'ok'
end
if action == 'role' then
  if rank < 3 then return 'role' end
  local theirs = roleOf(target)
  if not theirs or theirs == 'owner' then return 'target' end
  if ARGV[4] == 'moderator' then redis.call('HSET', KEYS[3], target, 'moderator') else redis.call('HDEL', KEYS[3], target) end
  return 'ok'
end
-- kick, ban, mute, unmute: by an owner or moderator, of someone of a lower role (a ban also of a non-member).
if rank < 2 then return 'role' end
local theirs = roleOf(target)
if theirs and RANK[theirs] >= rank then return 'role' end
if action == 'ban' then
  redis.call('SADD', KEYS[4], target)
  redis.call('SREM', KEYS[6], target)
  if theirs then
    redis.call('SREM', KEYS[1], target)
    redis.call('HDEL', KEYS[3], target)
    redis.call('SREM', KEYS[5], target)
  end
  return 'ok'
end
if not theirs then return 'target' end
if action == 'kick' then
  redis.call('SREM', KEYS[1], target)
  redis.call('HDEL', KEYS[3], target)
  redis.call('SREM', KEYS[5], target)
elseif action == 'mute' then
  redis.call('SADD', KEYS[5], target)
else
  redis.call('SREM', KEYS[5], target)
end
return 'ok'
`

/** A room's members with their roles and mutes: { user, role, 1|0 muted, … } (unsorted). */
export const MEMBERS = `
local roles = {}
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do roles[all[i]] = all[i + 1] end
local out = {}
for _, user in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  out[#out + 1] = user
  out[#out + 1] = roles[user] or 'member'
  out[#out + 1] = redis.call('SISMEMBER', KEYS[5], user)
end
return out
`
