/** What one user may take from the fleet through `/allocate`: the registry's per-user limits and their defaults. */

export interface UserLimits {
  /**
   * connections plus unused allocations one user may hold across the whole fleet (each `/allocate`
   * holds a place for the token's lifetime plus a grace of 5 s, ~35 s, unless it connects)
   */
  readonly maxConnections: number
  /** `/allocate` requests one user may make per window, every attempt counted; 0 = no rate limit */
  readonly allocateMax: number
  /** the window of `allocateMax`, ms */
  readonly windowMs: number
}

/** The one default of each per-user limit: the environment schema (servers/config.ts) and the plugins use these. */
export const DEFAULT_USER_LIMITS: UserLimits = Object.freeze({ maxConnections: 10, allocateMax: 60, windowMs: 60_000 })
