/**
 * Rooms with owners in one process: the same rules as room-scripts.ts, over
 * the memory store's members (it keeps those; this keeps the rest).
 */
import type { JoinOutcome, Moderation, ModerationOutcome, RoomInfo, RoomMember, RoomRole } from './types.js'
import { pageOfMembers } from './rooms.js'

/** What the rules need of the memory store's memberships. */
export interface MembersHost {
  members (room: string): ReadonlySet<string>
  add (room: string, user: string): void
  remove (room: string, user: string): void
}

interface Room {
  settings?: { owner?: string, mode: 'public' | 'invite', title: string, topic: string }
  readonly roles: Map<string, 'owner' | 'moderator'>
  readonly bans: Set<string>
  readonly mutes: Set<string>
  readonly invites: Set<string>
}

const RANK: Record<RoomRole, number> = { owner: 3, moderator: 2, member: 1 }

export class MemoryRooms {
  readonly #host: MembersHost
  readonly #rooms = new Map<string, Room>()

  constructor (host: MembersHost) {
    this.#host = host
  }

  #room (name: string): Room {
    let room = this.#rooms.get(name)
    if (room === undefined) this.#rooms.set(name, room = { roles: new Map(), bans: new Set(), mutes: new Set(), invites: new Set() })
    return room
  }

  /** ENTER: the rules (with `rules`), then the membership; the first member of a new room owns it. */
  enter (name: string, user: string, rules: boolean): JoinOutcome {
    if (this.#host.members(name).has(user)) return 'joined'
    const room = this.#room(name)
    if (rules && room.roles.get(user) !== 'owner') {
      if (room.bans.has(user)) return 'banned'
      if (room.settings?.mode === 'invite' && !room.invites.delete(user)) return 'invite_only'
    }
    const fresh = this.#host.members(name).size === 0 && room.settings === undefined
    this.#host.add(name, user)
    room.invites.delete(user)
    if (fresh) {
      room.settings = { owner: user, mode: 'public', title: '', topic: '' }
      room.roles.set(user, 'owner')
    }
    return 'joined'
  }

  info (name: string): RoomInfo {
    const settings = this.#rooms.get(name)?.settings
    return {
      mode: settings?.mode ?? 'public',
      ...(settings?.owner === undefined ? {} : { owner: settings.owner }),
      title: settings?.title ?? '',
      topic: settings?.topic ?? ''
    }
  }

  roleOf (name: string, user: string): RoomRole | undefined {
    if (!this.#host.members(name).has(user)) return undefined
    return this.#rooms.get(name)?.roles.get(user) ?? 'member'
  }

  isMuted (name: string, user: string): boolean {
    return this.#rooms.get(name)?.mutes.has(user) === true
  }

  moderate (name: string, by: string, change: Moderation): ModerationOutcome {
    const mine = this.roleOf(name, by)
    if (mine === undefined) return 'not_member'
    const rank = RANK[mine]
    const room = this.#room(name)
    if (change.action === 'settings') {
      if (rank < 2 || (change.mode !== undefined && rank < 3)) return 'role'
      room.settings ??= { mode: 'public', title: '', topic: '' }
      if (change.mode !== undefined) room.settings.mode = change.mode
      if (change.title !== undefined) room.settings.title = change.title
      if (change.topic !== undefined) room.settings.topic = change.topic
      return 'ok'
    }
    const target = change.user
    if (change.action === 'invite') {
      if (room.settings?.mode === 'invite' && rank < 2) return 'role'
      if (room.bans.has(target)) return 'banned'
      if (!this.#host.members(name).has(target)) room.invites.add(target)
      return 'ok'
    }
    if (change.action === 'unban') {
      if (rank < 2) return 'role'
      room.bans.delete(target)
      return 'ok'
    }
    const theirs = this.roleOf(name, target)
    if (change.action === 'role') {
      if (rank < 3) return 'role'
      if (theirs === undefined || theirs === 'owner') return 'target'
      if (change.role === 'moderator') room.roles.set(target, 'moderator')
      else room.roles.delete(target)
      return 'ok'
    }
    if (rank < 2) return 'role'
    if (theirs !== undefined && RANK[theirs] >= rank) return 'role'
    if (change.action === 'ban') {
      room.bans.add(target)
      room.invites.delete(target)
      if (theirs !== undefined) this.#drop(name, room, target)
      return 'ok'
    }
    if (theirs === undefined) return 'target'
    if (change.action === 'kick') this.#drop(name, room, target)
    else if (change.action === 'mute') room.mutes.add(target)
    else room.mutes.delete(target)
    return 'ok'
  }

  #drop (name: string, room: Room, user: string): void {
    this.#host.remove(name, user)
    room.roles.delete(user)
    room.mutes.delete(user)
  }

  page (name: string, after: string | undefined, limit: number): { members: RoomMember[], more: boolean } {
    const flat: string[] = []
    for (const user of this.#host.members(name)) flat.push(user, this.roleOf(name, user) ?? 'member', this.isMuted(name, user) ? '1' : '0')
    return pageOfMembers(flat, after, limit)
  }
}
