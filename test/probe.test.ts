/**
 * The deaf-relay probe on its own, over a store whose Redis can be made slow
 * or deaf: a relay that answers late is not deaf (finding it deaf resubscribes
 * every channel, and every subscription then reads its gap back from history
 * for nothing); one that acknowledges probes and never delivers them is. The probe runs on a manual clock: the
 * silences are stepped period by period, exactly, however busy the machine.
 */
import t from 'tap'
import type { Test } from 'tap'
import { pino } from 'pino'
import { RelayProbe } from '../plugins/socket/probe.js'
import type { MessageHandler, Store } from '../plugins/store/types.js'
import { ManualClock } from './helpers/clock.js'

const PERIOD_MS = 50
/** deaf after max(2 periods, 1000 ms) of silence */
const THRESHOLD_MS = 1000

/** A pretend Redis: `stalled` holds every reply and delivery until released; `deaf` acknowledges and never delivers. */
function fakeRelay (): { store: Store, mode: { stalled: boolean, deaf: boolean }, resubscribed: () => number, release (): void } {
  let resubscribed = 0
  const handlers = new Map<string, MessageHandler>()
  const mode = { stalled: false, deaf: false }
  let held: Array<() => void> = []
  // An event, as a store hands it on: no offset, the text as published.
  const deliver = (channel: string, frame: string): void => { if (!mode.deaf) handlers.get(channel)?.(channel, { channel, offset: undefined, text: frame }) }
  const store = {
    subscribe: async (channel: string, handler: MessageHandler) => { handlers.set(channel, handler) },
    unsubscribe: async (channel: string) => { handlers.delete(channel) },
    resubscribe: async () => { resubscribed++ },
    publishEvent: async (channel: string, frame: string) => {
      if (!mode.stalled) return deliver(channel, frame)
      // Redis writes the message to the subscriber and the reply to the publisher together, once it runs again.
      await new Promise<void>((resolve) => held.push(() => { deliver(channel, frame); resolve() }))
    }
  }
  return {
    store: store as unknown as Store,
    mode,
    resubscribed: () => resubscribed,
    release: () => {
      const pending = held
      held = []
      for (const go of pending) go()
    }
  }
}

/** A probe over a fresh relay on a manual clock, started and hearing its probes for a few periods; stopped at the end of `t`. */
async function startedProbe (t: Test): Promise<{ relay: ReturnType<typeof fakeRelay>, counts: { readonly deaf: number, unhealthy: number }, probe: RelayProbe, clock: ManualClock }> {
  const relay = fakeRelay()
  // Deafness found is a resubscription of every channel (the store reports it as a gap, and the hub heals it).
  const counts = { get deaf () { return relay.resubscribed() }, unhealthy: 0 }
  const clock = new ManualClock()
  const probe = new RelayProbe({
    store: relay.store,
    serverId: 's1',
    log: pino({ level: 'silent' }),
    periodMs: PERIOD_MS,
    activity: () => 0,
    onUnhealthy: () => { counts.unhealthy++ },
    onRecovered: () => {},
    clock
  })
  await probe.start()
  t.teardown(async () => { await probe.stop() })
  await clock.advance(4 * PERIOD_MS)
  return { relay, counts, probe, clock }
}

t.test('a stalled Redis (no replies for 2.5 s, then all at once) is late, not deaf', async (t) => {
  const { relay, counts, probe, clock } = await startedProbe(t)
  relay.mode.stalled = true
  await clock.advance(2500)
  t.equal(counts.deaf, 0, 'silent for 2.5 s, but Redis acknowledged none of the probes: late')
  relay.mode.stalled = false
  relay.release()
  await clock.advance(6 * PERIOD_MS)
  t.equal(counts.deaf, 0, 'nothing resubscribed')
  t.equal(counts.unhealthy, 0, 'the server stays in the fleet')
  t.ok(probe.healthy)
})

t.test('a relay that acknowledges probes and never delivers them is deaf as soon as the silence passes its threshold', async (t) => {
  const { relay, counts, probe, clock } = await startedProbe(t)
  // The last probe was heard at this tick; from the next one on, probes are acknowledged and lost.
  relay.mode.deaf = true
  await clock.advance(THRESHOLD_MS)
  t.equal(counts.deaf, 0, `silent for ${THRESHOLD_MS} ms: not yet`)
  await clock.advance(PERIOD_MS)
  t.equal(counts.deaf, 1, 'deaf at the first probe past the threshold')
  t.equal(counts.unhealthy, 0, 'resubscribing comes first')
  // Two more silences of a threshold each (resubscribing each time), then the server leaves the fleet.
  await clock.advance(2 * (THRESHOLD_MS + PERIOD_MS))
  t.equal(counts.deaf, 3, 'resubscribed at each of them')
  t.equal(counts.unhealthy, 1, 'resubscribing did not help: unhealthy')
  t.notOk(probe.healthy, 'and says so')
  relay.mode.deaf = false
  await clock.advance(2 * PERIOD_MS)
  t.ok(probe.healthy, 'healthy again once probes arrive')
})
