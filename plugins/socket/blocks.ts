/**
 * Blocking, on a connection (docs/protocol.md §2.14): the store refuses direct
 * messages between two users of whom one blocked the other; what a connection
 * must not pass on besides is the other's typing and read receipts, in rooms
 * too. A connection learns its user's blocks once, when it first needs them,
 * and keeps them current from two events on its personal channel: `blocked`
 * (the user blocked or unblocked someone, on any device: the client is told
 * too) and a notice that someone blocked the user, which only the server reads
 * (a user is not told who blocked them).
 */
import type { RequestId } from './protocol.js'

const BLOCKED_EVENT = '{"type":"blocked","user":"'
const NOTICE = '{"type":"block-notice","by":"'
/** Ephemeral events that name their user second, and are not passed on from a user hidden by a block. */
const HIDDEN_EVENTS = ['{"type":"typing","channel":"', '{"type":"receipt","channel":"']

/** The reply to `block` and `unblock`. */
export function blockedReply (id: RequestId, user: string, blocked: boolean): string {
  return JSON.stringify({ type: 'blocked', id, user, blocked })
}

/** The reply to `blocks`: the users this user blocked. */
export function blocksReply (id: RequestId, users: readonly string[]): string {
  return JSON.stringify({ type: 'blocks', id, users })
}

/** On the user's personal channel: they blocked (or unblocked) `user`, from one of their connections. Ends in a boolean, not an offset. */
export function blockedEvent (user: string, blocked: boolean): string {
  return `${BLOCKED_EVENT}${user}","blocked":${String(blocked)}}`
}

/** On the blocked user's personal channel, for their servers only: `by` blocked (or unblocked) them. */
export function blockNotice (by: string, blocked: boolean): string {
  return `${NOTICE}${by}","blocked":${String(blocked)}}`
}

/** A personal channel's event about blocks, parsed; undefined for any other frame. */
export function blockChange (frame: string): { readonly kind: 'mine' | 'notice', readonly user: string, readonly blocked: boolean } | undefined {
  const kind = frame.startsWith(BLOCKED_EVENT) ? 'mine' : frame.startsWith(NOTICE) ? 'notice' : undefined
  if (kind === undefined) return undefined
  const head = kind === 'mine' ? BLOCKED_EVENT : NOTICE
  const end = frame.indexOf('"', head.length)
  if (end < 0) return undefined
  return { kind, user: frame.slice(head.length, end), blocked: frame.endsWith('true}') }
}

/** The user an ephemeral event (typing, a receipt) is about, or undefined for other frames. */
export function eventUser (frame: string): string | undefined {
  const head = HIDDEN_EVENTS.find((h) => frame.startsWith(h))
  if (head === undefined) return undefined
  const user = frame.indexOf('","user":"', head.length)
  if (user < 0) return undefined
  const start = user + '","user":"'.length
  const end = frame.indexOf('"', start)
  return end < 0 ? undefined : frame.slice(start, end)
}

/** Who one connection's user blocked, and who blocked them: loaded once, then kept current by the events above. */
export class BlockView {
  readonly #load: () => Promise<{ blocked: string[], blockedBy: string[] }>
  #blocked: Set<string> | undefined
  #blockedBy: Set<string> | undefined
  #loading: Promise<void> | undefined
  /** changes heard while loading, applied after it */
  #pending: Array<{ kind: 'mine' | 'notice', user: string, blocked: boolean }> = []

  constructor (load: () => Promise<{ blocked: string[], blockedBy: string[] }>) {
    this.#load = load
  }

  /** Whether `user` is hidden from this user (either blocked the other); undefined until loaded (see ready). */
  hides (user: string): boolean | undefined {
    if (this.#blocked === undefined || this.#blockedBy === undefined) return undefined
    return this.#blocked.has(user) || this.#blockedBy.has(user)
  }

  /** Loads the blocks once; a failed load is tried again next time. */
  async ready (): Promise<void> {
    if (this.#blocked !== undefined) return
    this.#loading ??= this.#load().then(({ blocked, blockedBy }) => {
      this.#blocked = new Set(blocked)
      this.#blockedBy = new Set(blockedBy)
      for (const change of this.#pending.splice(0)) this.apply(change)
    }).finally(() => { this.#loading = undefined })
    await this.#loading
  }

  apply (change: { kind: 'mine' | 'notice', user: string, blocked: boolean }): void {
    const set = change.kind === 'mine' ? this.#blocked : this.#blockedBy
    if (set === undefined) {
      if (this.#loading !== undefined) this.#pending.push(change)
      return
    }
    if (change.blocked) set.add(change.user)
    else set.delete(change.user)
  }
}
