/**
 * Names on the wire and in Redis: user ids, channels and the key layout.
 * One place so that the validation rules and the key shapes never drift apart.
 */

/** 1–64 characters of [A-Za-z0-9_.-]: user ids, room names, server ids. */
export const NAME_PATTERN = '^[A-Za-z0-9_.-]{1,64}$'
const NAME = /^[A-Za-z0-9_.-]{1,64}$/
const CHANNEL = /^(user|room):[A-Za-z0-9_.-]{1,64}$/

export function isName (value: string): boolean {
  return NAME.test(value)
}

export function isChannel (value: string): boolean {
  return CHANNEL.test(value)
}

export function userChannel (user: string): string {
  return `user:${user}`
}

export function roomChannel (room: string): string {
  return `room:${room}`
}

/** Redis key names under one prefix (`sb:` by default). */
export interface Keys {
  readonly load: string
  readonly alive: string
  server (id: string): string
  /** sorted set: reservation nonce → expiry, for one server */
  reservations (id: string): string
  /** set: channels where a server has presence entries */
  presenceIndex (id: string): string
  live (channel: string): string
  history (channel: string): string
  /** hash: epoch, top (newest offset), trimmed (newest offset dropped by trimming) */
  meta (channel: string): string
  dedup (channel: string, sender: string, mid: string): string
  members (room: string): string
  rooms (user: string): string
  presence (channel: string): string
  /** sorted set: ids of one role's fleet components (registries, health checkers) → last seen (ms, store clock) */
  components (role: string): string
  /** hash: one component's details (`startedAt`, `details` JSON); expires when it stops announcing itself */
  component (role: string, id: string): string
}

export function keys (prefix: string): Keys {
  return {
    load: `${prefix}load`,
    alive: `${prefix}alive`,
    server: (id) => `${prefix}server:${id}`,
    reservations: (id) => `${prefix}resv:${id}`,
    presenceIndex: (id) => `${prefix}presence-of:${id}`,
    live: (channel) => `${prefix}ch:${channel}`,
    history: (channel) => `${prefix}hist:${channel}`,
    meta: (channel) => `${prefix}meta:${channel}`,
    dedup: (channel, sender, mid) => `${prefix}mid:${channel}:${sender}:${mid}`,
    members: (room) => `${prefix}members:${room}`,
    rooms: (user) => `${prefix}rooms:${user}`,
    presence: (channel) => `${prefix}presence:${channel}`,
    components: (role) => `${prefix}components:${role}`,
    component: (role, id) => `${prefix}component:${role}:${id}`
  }
}
