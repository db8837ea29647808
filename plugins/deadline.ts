/**
 * Waiting for a store that may never answer. Shutting down talks to Redis
 * (leaving the fleet, unsubscribing, QUIT); a Redis that is down, frozen or
 * failing over may never reply, and a process shutting down must not hang on
 * it. `within` waits for `work` at most `ms`; the work goes on (or fails) on
 * its own after that, its outcome ignored.
 */

/** True when `work` settled within `ms` (a rejection rethrown), false when it did not. */
export async function within (work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms) })
  try {
    return await Promise.race([work.then(() => true as const), late])
  } finally {
    clearTimeout(timer)
  }
}

/** Like `within`, but a reply that does not come within `ms` is an error. */
export async function replyWithin (work: Promise<unknown>, ms: number): Promise<void> {
  if (!(await within(work, ms))) throw new Error(`no reply within ${ms} ms`)
}
