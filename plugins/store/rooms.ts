/**
 * What both stores share about rooms with owners: the shape of a room's
 * settings, the order of its member list, and a change's arguments.
 */
import type { Moderation, RoomInfo, RoomMember, RoomRole } from './types.js'

/** A title or topic left as it is (a NUL: never in a valid one). */
export const UNCHANGED = '\0'

/** A room's settings from its hash (an empty hash: a room made before rooms had owners, public and ownerless). */
export function roomInfoOf (hash: Readonly<Record<string, string>>): RoomInfo {
  return {
    mode: hash.mode === 'invite' ? 'invite' : 'public',
    ...(hash.owner === undefined ? {} : { owner: hash.owner }),
    title: hash.title ?? '',
    topic: hash.topic ?? ''
  }
}

/** action, role or mode, title, topic: the arguments MODERATE takes after the target. */
export function moderationArguments (change: Moderation): [string, string, string, string] {
  if (change.action === 'settings') return [change.action, change.mode ?? '', change.title ?? UNCHANGED, change.topic ?? UNCHANGED]
  if (change.action === 'role') return [change.action, change.role, UNCHANGED, UNCHANGED]
  return [change.action, '', UNCHANGED, UNCHANGED]
}

/** A page of members sorted by id, from MEMBERS's flat reply (user, role, muted, …). */
export function pageOfMembers (flat: readonly string[], after: string | undefined, limit: number): { members: RoomMember[], more: boolean } {
  const all: RoomMember[] = []
  for (let i = 0; i + 2 < flat.length; i += 3) {
    const role = flat[i + 1]
    all.push({ user: flat[i] ?? '', role: role === 'owner' || role === 'moderator' ? role as RoomRole : 'member', muted: flat[i + 2] === '1' })
  }
  all.sort((a, b) => a.user < b.user ? -1 : a.user > b.user ? 1 : 0)
  const rest = after === undefined ? all : all.filter((m) => m.user > after)
  return { members: rest.slice(0, limit), more: rest.length > limit }
}
