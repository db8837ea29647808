/**
 * The Store: everything Switchboard keeps outside a process. Two
 * implementations share one contract and one test suite: `RedisStore`
 * (production, many processes) and `MemoryStore` (standalone, one process).
 */

/** What a socket server says about itself on every heartbeat. */
export interface ServerRecord {
  readonly id: string
  /** the websocket URL clients are given, e.g. `ws://10.0.0.5:4000/ws` */
  readonly url: string
  /** maximum connections */
  readonly capacity: number
  readonly draining: boolean
  /** ms since epoch */
  readonly startedAt: number
}

/** A server as the registry sees it. */
export interface ServerStatus extends ServerRecord {
  /** connections counted in the load set */
  readonly load: number
  /** last heartbeat, ms since epoch (store clock), or null if none recorded */
  readonly lastHeartbeat: number | null
}

/** Receives live messages: `payload` is the exact text frame clients get. */
export type MessageHandler = (channel: string, payload: string) => void

export interface AppendInput {
  /** channel name, e.g. `user:bob` */
  readonly channel: string
  /**
   * The message frame up to its offset: the store appends the offset and the
   * closing `"}` and publishes the result, so no process parses it again.
   */
  readonly framePrefix: string
  /** sender id and client message id: a repeat of (sender, mid) is not appended again */
  readonly sender: string
  readonly mid?: string | undefined
}

export interface AppendResult {
  readonly offset: string
  /** true when (sender, mid) was seen before and nothing was appended */
  readonly duplicate: boolean
}

export interface Store {
  readonly kind: 'memory' | 'redis'

  /** Register or refresh a socket server: record, liveness, and a load entry if missing. */
  heartbeat (server: ServerRecord, connections: number): Promise<void>
  /** Remove a server from every fleet structure. */
  deregister (id: string): Promise<void>
  /** Connection accounting: +1 on open, -1 on close; a server without a load entry is left alone. */
  adjustLoad (id: string, delta: number): Promise<void>
  /** The least-loaded server that is alive (heartbeat within `aliveWithinMs`), not draining and under capacity. */
  pickServer (aliveWithinMs: number): Promise<ServerStatus | null>
  /** Every server with a load entry or a record, least loaded first. */
  listServers (): Promise<ServerStatus[]>

  /** Append to a channel's history and publish it live, in one atomic step. */
  append (input: AppendInput): Promise<AppendResult>
  /** Start receiving a channel's live messages. Resolves once the subscription is active. */
  subscribe (channel: string, handler: MessageHandler): Promise<void>
  unsubscribe (channel: string, handler: MessageHandler): Promise<void>

  /** Resolves when the backend answers. */
  ping (): Promise<void>

  /** Release what the store created (not the Redis clients it was given). */
  close (): Promise<void>
}

export interface StoreLimits {
  /** approximate maximum entries kept per channel history */
  readonly historySize: number
  /** how long a (sender, mid) pair is remembered, ms */
  readonly dedupWindowMs: number
}

export const DEFAULT_LIMITS: StoreLimits = { historySize: 1000, dedupWindowMs: 10 * 60_000 }
