/** Defaults that several plugins (and the environment schema, servers/config.ts) must share: one value for the whole fleet. */

/**
 * A socket server whose last heartbeat is older than this, ms, is gone: registries and draining servers
 * no longer offer it, the store no longer counts its users as present, health checkers evict it, and the
 * dashboard shows it dead. HEARTBEAT_TIMEOUT_MS.
 */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 3000
