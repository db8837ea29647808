/**
 * What the registry records into switchboard-metrics: each `/allocate` by
 * outcome, and the requests its rate limits refused (switchboard-metrics is
 * a dependency of the registry plugin).
 */
import { NoCapacityError, RateLimitedError, StoreUnavailableError, TooManyAllocationsError } from '../errors.js'
import type { AllocationOutcome, SwitchboardMetrics } from '../metrics/index.js'

export interface AllocationMeter {
  allocated (): void
  /** `/allocate` failed with `err` (a refusal of the per-IP or per-user rate limit included) */
  failed (err: unknown): void
}

export function outcomeOf (err: unknown): AllocationOutcome {
  if (err instanceof NoCapacityError) return 'no_capacity'
  if (err instanceof StoreUnavailableError) return 'store_unavailable'
  if (err instanceof RateLimitedError) return 'rate_limited'
  if (err instanceof TooManyAllocationsError) return 'too_many_allocations'
  // An authenticate() of the host app may throw its own 401s.
  if ((err as { statusCode?: unknown } | null)?.statusCode === 401) return 'unauthorized'
  return 'error'
}

export function allocationMeter (metrics: SwitchboardMetrics): AllocationMeter {
  const { allocations, rateLimited } = metrics
  const ok = allocations.labels('ok') // bound once: labels() per call costs more than the increment
  return {
    allocated: () => { ok.inc() },
    failed: (err) => {
      const outcome = outcomeOf(err)
      allocations.labels(outcome).inc()
      if (outcome === 'rate_limited') rateLimited.labels('allocate').inc()
    }
  }
}
