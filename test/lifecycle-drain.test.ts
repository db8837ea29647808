/**
 * A socket server's life in the fleet, with real processes and real Redis: a drain under chat.
 */
import t from 'tap'
import { eventually, sleep } from './helpers/client.js'
import { cluster, loads, numbered } from './helpers/lifecycle.js'
import { sdkClient } from './helpers/sdk.js'
import type { SdkClient } from './helpers/sdk.js'

t.test('drain: SIGTERM a server holding 200 chatting SDK clients; all move, nothing lost or doubled', async (t) => {
  const { c, redis, prefix } = await cluster(t, 3, { DRAIN_TIMEOUT_MS: '20000' })
  const clients: SdkClient[] = []
  for (let i = 0; i < 200; i++) clients.push(await sdkClient(t, c.registryUrl, `d${i}`))
  const before = await loads(redis, prefix)
  t.ok((before.s1 ?? 0) >= 60, `s1 holds ${before.s1} clients`)

  // Everyone sends to the next one, in rounds, before, during and after the drain.
  const acked = new Map<string, number[]>()
  let round = 0
  const state = { chatting: true }
  const chatter = (async () => {
    while (state.chatting || round < 6) {
      const r = round++
      await Promise.all(clients.map(async (client, i) => {
        const to = `d${(i + 1) % clients.length}`
        await client.client.send(to, { r })
        const list = acked.get(to) ?? []
        list.push(r)
        acked.set(to, list)
      }))
      await sleep(30) // pacing: rounds of chat before, during and after the drain
    }
  })()
  await eventually(() => round >= 2, 'the chat to be under way')
  const s1 = c.sockets[0]
  s1?.child.kill('SIGTERM')
  t.equal(await s1?.exited, 0, 'the drained server exits cleanly')
  state.chatting = false
  await chatter
  await eventually(async () => !('s1' in await loads(redis, prefix)), 'deregistered')
  t.same(Object.keys(await loads(redis, prefix)).sort(), ['s2', 's3'], 's1 left the fleet')

  // A marker after the chat on each conversation: once a client has it, any duplicate would have come before it.
  await Promise.all(clients.map(async (client, i) => await client.client.send(`d${(i + 1) % clients.length}`, 'marker')))
  for (const [i, client] of clients.entries()) {
    await eventually(() => client.messages.some((m) => m.to === `d${i}` && m.data === 'marker'), `d${i} has every message`)
  }
  let perfect = 0
  for (const [i, client] of clients.entries()) {
    // Messages to d{i} (its own sends come back as copies on the same channel, with to: d{i+1}).
    const got = numbered(client.messages.filter((m) => m.to === `d${i}`), 'r')
    const expected = (acked.get(`d${i}`) ?? []).sort((a, b) => a - b)
    if (JSON.stringify(got) === JSON.stringify(expected)) perfect++
    else t.same(got, expected, `d${i}: every acknowledged message once, in order`)
    t.equal(client.client.state, 'connected')
  }
  t.equal(perfect, 200, 'all 200 clients got exactly what was acknowledged to them')
  const after = await loads(redis, prefix)
  t.equal((after.s2 ?? 0) + (after.s3 ?? 0), 200, 'all 200 clients are on s2 and s3, counted once')
})
