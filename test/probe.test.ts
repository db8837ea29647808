/**
 * The deaf-relay probe on its own, over a store whose Redis can be made slow
 * or deaf: a relay that answers late is not deaf (finding it deaf closes every
 * client with 1012, and a busy Redis then gets every client back at once); one
 * that acknowledges probes and never delivers them is.
 */
import t from 'tap'
import type { Test } from 'tap'
import { pino } from 'pino'
import { RelayProbe } from '../plugins/socket/probe.js'
import type { MessageHandler, Store } from '../plugins/store/types.js'
import { sleep } from './helpers/client.js'

const PERIOD_MS = 50 // deaf after max(2 periods, 1000 ms) of silence

/** A pretend Redis: `stalled` holds every reply and delivery until released; `deaf` acknowledges and never delivers. */
function fakeRelay (): { store: Store, mode: { stalled: boolean, deaf: boolean }, release (): void } {
  const handlers = new Map<string, MessageHandler>()
  const mode = { stalled: false, deaf: false }
  let held: Array<() => void> = []
  const deliver = (channel: string, frame: string): void => { if (!mode.deaf) handlers.get(channel)?.(channel, frame) }
  const store = {
    subscribe: async (channel: string, handler: MessageHandler) => { handlers.set(channel, handler) },
    unsubscribe: async (channel: string) => { handlers.delete(channel) },
    resubscribe: async () => {},
    publishEvent: async (channel: string, frame: string) => {
      if (!mode.stalled) return deliver(channel, frame)
      // Redis writes the message to the subscriber and the reply to the publisher together, once it runs again.
      await new Promise<void>((resolve) => held.push(() => { deliver(channel, frame); resolve() }))
    }
  }
  return {
    store: store as unknown as Store,
    mode,
    release: () => {
      const pending = held
      held = []
      for (const go of pending) go()
    }
  }
}

/** A probe over a fresh relay, started and hearing its probes for a moment; stopped at the end of `t`. */
async function startedProbe (t: Test): Promise<{ relay: ReturnType<typeof fakeRelay>, counts: { deaf: number, unhealthy: number }, probe: RelayProbe }> {
  const relay = fakeRelay()
  const counts = { deaf: 0, unhealthy: 0 }
  const probe = new RelayProbe({
    store: relay.store,
    serverId: 's1',
    log: pino({ level: 'silent' }),
    periodMs: PERIOD_MS,
    activity: () => 0,
    onDeaf: () => { counts.deaf++ },
    onUnhealthy: () => { counts.unhealthy++ },
    onRecovered: () => {}
  })
  await probe.start()
  t.teardown(async () => { await probe.stop() })
  await sleep(200)
  return { relay, counts, probe }
}

t.test('a stalled Redis (no replies for 2.5 s, then all at once) is late, not deaf', async (t) => {
  const { relay, counts, probe } = await startedProbe(t)
  relay.mode.stalled = true
  await sleep(2500)
  relay.mode.stalled = false
  relay.release()
  await sleep(300)
  t.equal(counts.deaf, 0, 'no client would be closed')
  t.equal(counts.unhealthy, 0, 'the server stays in the fleet')
  t.ok(probe.healthy)
})

t.test('a relay that acknowledges probes and never delivers them is deaf within ~1.5 s', async (t) => {
  const { relay, counts } = await startedProbe(t)
  relay.mode.deaf = true
  const started = Date.now()
  while (counts.deaf === 0 && Date.now() - started < 3000) await sleep(10)
  t.equal(counts.deaf, 1, `found deaf after ${Date.now() - started} ms`)
  t.ok(Date.now() - started < 1600, 'as soon as the silence passes its threshold')
})
