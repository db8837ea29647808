/**
 * Forgetting a socket server that is gone: its presence entries are removed,
 * and each user it was the last live holder of gets a `leave` event in the
 * rooms they were in. Used by the health checker after an eviction, and by a
 * socket server on its way out.
 */
import type { Store } from '../store/types.js'
import { presenceEvent } from '../socket/frames.js'

export async function forgetServer (store: Store, serverId: string): Promise<number> {
  const dropped = await store.dropPresence(serverId)
  const leaves = dropped.filter((d) => d.gone && d.channel.startsWith('room:'))
  await Promise.all(leaves.map(async (d) => { await store.publishEvent(d.channel, presenceEvent('leave', d.channel, d.user)) }))
  return dropped.length
}
