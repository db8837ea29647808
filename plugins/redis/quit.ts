/**
 * Closing Redis connections without waiting for ever: QUIT waits for its
 * reply, and for the replies of everything sent before it, which a Redis that
 * is down, frozen or failing over (a Cluster node being replaced) may never
 * send. Each close gets QUIT_WITHIN_MS; the connections are then dropped
 * (`disconnect()`, which fails what is still pending) whatever happened.
 */
import type { Cluster, Redis } from 'ioredis'
import { within } from '../deadline.js'

/** How long connections being closed may take to answer QUIT, ms. */
export const QUIT_WITHIN_MS = 3000

export async function quitWithin (connections: ReadonlyArray<Redis | Cluster>): Promise<void> {
  try {
    await within(Promise.allSettled(connections.map(async (c) => await c.quit())), QUIT_WITHIN_MS)
  } finally {
    for (const c of connections) c.disconnect()
  }
}
