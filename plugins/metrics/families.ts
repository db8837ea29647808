/**
 * Every Switchboard metric, made once per Prometheus registry. Names, help and
 * labels live here and nowhere else; docs/metrics.md lists them, and
 * test/metrics-infra.test.ts checks the Grafana dashboard queries only these.
 * Labels have a small fixed set of values each (no user, channel or message
 * ids), so the number of series stays bounded whatever the traffic.
 */
import { Counter, Gauge } from 'prom-client'
import type { Registry } from 'prom-client'
import { TalliedHistogram } from './tallied-histogram.js'

/** How an `/allocate` request ended. */
export const ALLOCATION_OUTCOMES = ['ok', 'no_capacity', 'unauthorized', 'rate_limited', 'too_many_allocations', 'store_unavailable', 'error'] as const
export type AllocationOutcome = typeof ALLOCATION_OUTCOMES[number]

/** What was refused for going too fast: a websocket frame, or an `/allocate` request. */
export const RATE_LIMIT_KINDS = ['frame', 'allocate'] as const

/** The two Redis connections of the switchboard-redis plugin. */
/** command and subscriber: the switchboard-redis connections; shard: Redis Cluster's per-shard subscription connections */
export const REDIS_CONNECTIONS = ['command', 'subscriber', 'shard'] as const

/** How a relay gap ended on a socket server: read back from history, or lost (its listeners closed with 1012 to recover by themselves). */
export const RELAY_GAP_OUTCOMES = ['healed', 'lost'] as const

/**
 * Relay latency buckets, seconds. Offsets carry milliseconds, so nothing finer
 * than 1 ms can be told apart.
 */
export const RELAY_LATENCY_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

export interface SwitchboardMetricFamilies {
  /** open websocket connections (socket server) */
  readonly connections: Gauge
  /** `/allocate` requests by outcome (registry) */
  readonly allocations: Counter<'outcome'>
  /** client frames accepted, by frame type (socket server) */
  readonly messagesIn: Counter<'type'>
  /** frames written to client sockets (socket server) */
  readonly messagesOut: Counter
  /** from a message's append (its offset's time) to its delivery on this server (socket server); `record` on the hot path */
  readonly relayLatency: TalliedHistogram
  /** Redis connection errors, by connection (every component with Redis) */
  readonly redisErrors: Counter<'connection'>
  /** Redis reconnection attempts, by connection */
  readonly redisReconnects: Counter<'connection'>
  /** socket servers evicted for a stale heartbeat (health checker) */
  readonly evictions: Counter
  /** drains started (socket server) */
  readonly drains: Counter
  /** 1 while this socket server is draining */
  readonly draining: Gauge
  /** connections closed with 4009 for piling up unsent data (socket server) */
  readonly slowConsumerCloses: Counter
  /** refusals for going too fast, by kind: frame (socket server), allocate (registry) */
  readonly rateLimited: Counter<'kind'>
  /** subscriptions whose live delivery had a gap, by outcome (socket server) */
  readonly relayGaps: Counter<'outcome'>
  /** messages read back from history to heal relay gaps (socket server) */
  readonly relayGapMessages: Counter
}

/** Creates the families on `registry`, with every labelled series present (at 0) from the start. */
export function createFamilies (registry: Registry, prefix: string): SwitchboardMetricFamilies {
  const registers = [registry]
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> =>
    new Counter<L>({ name: `${prefix}${name}`, help, labelNames, registers })
  const gauge = (name: string, help: string): Gauge => new Gauge({ name: `${prefix}${name}`, help, registers })

  const families: SwitchboardMetricFamilies = {
    connections: gauge('connections', 'Open websocket connections on this socket server.'),
    allocations: counter('allocations_total', 'GET /allocate requests, by outcome.', ['outcome']),
    messagesIn: counter('messages_in_total', 'Client frames accepted (valid and within the rate limit), by frame type.', ['type']),
    messagesOut: counter('messages_out_total', 'Frames written to client websockets (messages, replies and events).'),
    relayLatency: new TalliedHistogram({
      name: `${prefix}relay_latency_seconds`,
      help: 'Time from a message\'s append (the time in its offset, the store\'s clock) to its delivery to local sockets on a receiving socket server.',
      buckets: RELAY_LATENCY_BUCKETS,
      registers
    }),
    redisErrors: counter('redis_errors_total', 'Errors reported by a Redis connection, by connection (command, subscriber, or shard: a Redis Cluster subscription connection).', ['connection']),
    redisReconnects: counter('redis_reconnects_total', 'Reconnection attempts of a Redis connection, by connection (command, subscriber; shard: a lost Redis Cluster subscription connection being replaced).', ['connection']),
    evictions: counter('evictions_total', 'Socket servers evicted by this health checker for a stale heartbeat.'),
    drains: counter('drains_total', 'Drains started on this socket server.'),
    draining: gauge('draining', '1 while this socket server is draining, else 0.'),
    slowConsumerCloses: counter('slow_consumer_closes_total', 'Connections closed with 4009 for piling up more unsent data than MAX_BUFFERED_BYTES.'),
    rateLimited: counter('rate_limited_total', 'Requests refused for going too fast, by kind: frame (websocket frames) or allocate (GET /allocate).', ['kind']),
    relayGaps: counter('relay_gaps_total', 'Subscriptions of this socket server whose live delivery had a gap (a Redis failover, a lost or moved subscription, a deaf relay), by outcome: healed (read back from history, no client closed) or lost (not readable: trimmed, or a new epoch; its listeners were closed with 1012 to recover).', ['outcome']),
    relayGapMessages: counter('relay_gap_messages_total', 'Messages read back from history and delivered to heal relay gaps.')
  }
  for (const outcome of ALLOCATION_OUTCOMES) families.allocations.labels(outcome).inc(0)
  for (const kind of RATE_LIMIT_KINDS) families.rateLimited.labels(kind).inc(0)
  for (const outcome of RELAY_GAP_OUTCOMES) families.relayGaps.labels(outcome).inc(0)
  for (const connection of REDIS_CONNECTIONS) {
    families.redisErrors.labels(connection).inc(0)
    families.redisReconnects.labels(connection).inc(0)
  }
  return families
}
