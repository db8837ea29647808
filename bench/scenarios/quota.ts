/**
 * `quota`: what one user can make Redis keep under the default storage
 * quotas, and the share of a 4 GiB Redis that is. One socket server, one
 * hostile user at a time, writing as fast as it may until every message is
 * refused with QUOTA_EXCEEDED; Redis's `used_memory` before and after.
 *   large: 64 kB messages to made-up recipients (the bytes budget runs out first)
 *   small: 100-byte messages, to as many made-up recipients as the channels budget
 *     allows, then on in those conversations (the messages budget runs out)
 * The headline is the larger of the two, over 4 GiB (target: at most 1%).
 */
import WebSocket from 'ws'
import { Redis } from 'ioredis'
import { startSwitchboard } from '../lib/systems.js'
import { round } from '../lib/stats.js'

export interface QuotaResult {
  /** bytes Redis kept for one user's large messages */
  readonly largeBytes: number
  readonly largeStored: number
  /** bytes Redis kept for one user's small messages */
  readonly smallBytes: number
  readonly smallStored: number
}

/** The documented Redis memory budget the defaults are sized against (docs/security.md). */
export const REDIS_BUDGET_BYTES = 4 * 1024 ** 3

async function usedMemory (redis: Redis): Promise<number> {
  const info = await redis.info('memory')
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0)
}

/**
 * Connects `user` and sends DMs until `stop` refusals in a row, `inFlight` at a time; the n-th goes to
 * `to(n)`. Resolves with the number acknowledged.
 */
async function flood (registryUrl: string, user: string, data: string, to: (n: number) => string): Promise<number> {
  const allocation = await (await fetch(`${registryUrl}/allocate?user=${user}`)).json() as { url: string, token: string }
  const ws = new WebSocket(`${allocation.url}?token=${encodeURIComponent(allocation.token)}`)
  await new Promise<void>((resolve, reject) => {
    ws.on('message', function first (raw) {
      if ((JSON.parse(raw.toString()) as { type: string }).type !== 'welcome') return
      ws.off('message', first)
      resolve()
    })
    ws.on('error', reject)
  })
  let acked = 0
  let refusedInARow = 0
  let next = 0
  await new Promise<void>((resolve) => {
    const send = (): void => { ws.send(JSON.stringify({ type: 'send', id: next, to: to(next), data })); next++ }
    ws.on('message', (raw) => {
      const frame = JSON.parse(raw.toString()) as { type: string, code?: string }
      if (frame.type === 'ack') { acked++; refusedInARow = 0 } else if (frame.type === 'error' && frame.code === 'QUOTA_EXCEEDED') refusedInARow++
      else return
      if (refusedInARow >= 50) resolve()
      else send()
    })
    for (let i = 0; i < 20; i++) send()
  })
  ws.close()
  return acked
}

/** `tiny` (the harness's smoke test): the same runs under quotas a hundred times smaller. */
const TINY_QUOTAS = { QUOTA_MESSAGES: '100', QUOTA_BYTES: String(160 * 1024), QUOTA_CHANNELS: '5' }

export async function quota (size: 'tiny' | 'full', progress: (line: string) => void = () => {}): Promise<QuotaResult> {
  const system = await startSwitchboard(1, size === 'tiny' ? TINY_QUOTAS : {})
  const redis = new Redis(system.redis.url)
  try {
    const measure = async (user: string, data: string, to: (n: number) => string): Promise<{ bytes: number, stored: number }> => {
      const before = await usedMemory(redis)
      const stored = await flood(system.registryUrl, user, data, to)
      const bytes = (await usedMemory(redis)) - before
      progress(`    ${user}: ${stored} messages stored before every one was refused; Redis grew by ${round(bytes / 1024 / 1024, 1)} MiB`)
      return { bytes, stored }
    }
    const large = await measure('mallory', 'x'.repeat(64 * 1024 - 200), (n) => `victim${n}`)
    const small = await measure('trudy', 'x'.repeat(100), (n) => `target${n % (size === 'tiny' ? 5 : 500)}`)
    return { largeBytes: large.bytes, largeStored: large.stored, smallBytes: small.bytes, smallStored: small.stored }
  } finally {
    redis.disconnect()
    await system.stop()
  }
}
