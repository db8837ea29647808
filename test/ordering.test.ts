/**
 * The two ordering rules, as pure units with property tests: the socket
 * server's per-channel lanes for membership operations (plugins/socket/lanes.ts)
 * and the SDK's per-channel send order (client/sdk/requests.ts).
 */
import t from 'tap'
import fc from 'fast-check'
import { Lanes } from '../plugins/socket/lanes.js'
import { SendOrder } from '../client/sdk/requests.js'
import type { Pending } from '../client/sdk/requests.js'

t.test('Lanes: tasks of one key run one at a time in submission order, whatever each takes and whether it fails', async (t) => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.record({ key: fc.constantFrom('room:a', 'room:b', 'room:c'), ticks: fc.nat(3), fails: fc.boolean() }), { minLength: 1, maxLength: 30 }),
    async (tasks) => {
      const lanes = new Lanes()
      const started: number[] = []
      const running = new Map<string, number>()
      let overlapOfOneKey = false
      const done = tasks.map(async ({ key, ticks, fails }, i) => await lanes.run(key, async () => {
        started.push(i)
        if ((running.get(key) ?? 0) > 0) overlapOfOneKey = true
        running.set(key, (running.get(key) ?? 0) + 1)
        for (let n = 0; n < ticks; n++) await new Promise((resolve) => setImmediate(resolve))
        running.set(key, (running.get(key) ?? 0) - 1)
        if (fails) throw new Error(`task ${i}`)
        return i
      }).then((value) => ({ value }), (err: Error) => ({ err: err.message })))
      const outcomes = await Promise.all(done)
      if (overlapOfOneKey) return false
      // Each task's own outcome, whatever the others did.
      if (!outcomes.every((o, i) => tasks[i]?.fails === true ? 'err' in o && o.err === `task ${i}` : 'value' in o && o.value === i)) return false
      for (const key of ['room:a', 'room:b', 'room:c']) {
        const mine = started.filter((i) => tasks[i]?.key === key)
        const submitted = tasks.map((task, i) => ({ ...task, i })).filter((task) => task.key === key).map((task) => task.i)
        if (JSON.stringify(mine) !== JSON.stringify(submitted)) return false
      }
      return lanes.busy === 0
    }), { numRuns: 300 })
  t.pass('300 random schedules: per-key order and exclusion hold, and idle lanes are dropped')
})

t.test('Lanes: an idle lane starts the task at once; another key does not wait for a busy one', async (t) => {
  const lanes = new Lanes()
  let release = (): void => {}
  const blocked = lanes.run('room:a', async () => { await new Promise<void>((resolve) => { release = resolve }) })
  let ran = false
  const other = lanes.run('room:b', async () => { ran = true })
  t.ok(ran, 'room:b started synchronously while room:a is busy')
  await other
  release()
  await blocked
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(lanes.busy, 0, 'idle lanes are dropped')
})

function pending (id: number, order: string | undefined): Pending {
  return { id, text: '', frame: { type: 'send' }, resolve: () => {}, reject: () => {}, ...(order === undefined ? {} : { order }), perConnection: false, once: false, delayed: false, retries: 0, retryUntil: 0 }
}

t.test('SendOrder: one request per channel is out at a time, and they go out in the order they were made', async (t) => {
  fc.assert(fc.property(
    fc.array(fc.oneof(
      fc.record({ op: fc.constant('add' as const), order: fc.option(fc.constantFrom('room:a', 'user:b', 'dm:a:b'), { nil: undefined }) }),
      fc.record({ op: fc.constant('settle' as const), pick: fc.nat() })
    ), { maxLength: 60 }),
    (ops) => {
      const order = new SendOrder()
      const out: Pending[] = [] // sent and not yet settled
      const sentOrder = new Map<string, number[]>()
      const made = new Map<string, number[]>()
      let id = 0
      const send = (p: Pending): void => {
        out.push(p)
        if (p.order !== undefined) sentOrder.set(p.order, [...sentOrder.get(p.order) ?? [], p.id])
      }
      for (const op of ops) {
        if (op.op === 'add') {
          const p = pending(id++, op.order)
          if (p.order !== undefined) made.set(p.order, [...made.get(p.order) ?? [], p.id])
          if (order.enter(p)) send(p)
        } else if (out.length > 0) {
          const [p] = out.splice(op.pick % out.length, 1)
          if (p === undefined) continue
          const next = order.leave(p)
          if (next !== undefined) send(next)
        }
        // Never two requests of one channel out at once.
        const counts = new Map<string, number>()
        for (const p of out) if (p.order !== undefined) counts.set(p.order, (counts.get(p.order) ?? 0) + 1)
        if ([...counts.values()].some((n) => n > 1)) return false
      }
      // Whatever was sent of a channel went in the order it was made.
      for (const [channel, ids] of sentOrder) {
        if (JSON.stringify(ids) !== JSON.stringify((made.get(channel) ?? []).slice(0, ids.length))) return false
      }
      return true
    }), { numRuns: 500 })
  t.pass('500 random sequences of requests and replies')
})
