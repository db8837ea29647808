/**
 * Membership operations of one connection applied in order: 500 random
 * sequences of join/leave/subscribe/unsubscribe on one room, each sent in one
 * write, on the memory store and on real Redis. Whatever the interleaving,
 * the room ends in the state the last operation asked for: membership, this
 * connection's subscription (does a message published to the room reach
 * it?), presence in the store, and the presence events another member saw;
 * and once the connection closes nothing of it is left in presence.
 * (Before the lanes, `join` + `leave` in one write left a ghost listener.)
 */
import t from 'tap'
import fc from 'fast-check'
import { TestClient, eventually } from './helpers/client.js'
import type { Frame } from './helpers/client.js'
import { BACKENDS, startStack } from './helpers/stack.js'

type Op = 'join' | 'leave' | 'subscribe' | 'unsubscribe'

/** The rule, as the client sees it: what each reply is and where the room ends up. */
function model (ops: Op[]): { replies: string[], member: boolean, listening: boolean, events: Array<'join' | 'leave'> } {
  let member = false
  let listening = false
  const replies: string[] = []
  const events: Array<'join' | 'leave'> = []
  const listen = (next: boolean): void => {
    if (next !== listening) events.push(next ? 'join' : 'leave')
    listening = next
  }
  for (const op of ops) {
    if (op === 'join') {
      member = true
      listen(true)
      replies.push('joined')
    } else if (op === 'leave') {
      member = false
      listen(false)
      replies.push('left')
    } else if (op === 'subscribe') {
      if (member) listen(true)
      replies.push(member ? 'subscribed' : 'FORBIDDEN')
    } else {
      listen(false)
      replies.push('unsubscribed')
    }
  }
  return { replies, member, listening, events }
}

function frameFor (op: Op, room: string, id: number): Record<string, unknown> {
  return op === 'join' || op === 'leave' ? { type: op, id, room } : { type: op, id, channel: `room:${room}` }
}

for (const backend of BACKENDS) {
  t.test(`${backend}: 500 random join/leave/subscribe/unsubscribe sequences in one write end in the state of the last one`, async (t) => {
    // The observer writes to two new channels a run (the room and a marker conversation): more than one user's day of them.
    const stack = await startStack(t, backend, { sockets: 1, limits: { quotaChannels: 0 } })
    const { store } = stack.handle
    const observer = await TestClient.connect(stack.registryUrl, 'observer')
    t.teardown(() => observer.close())
    let run = 0
    let failures = 0

    /** Published by the observer after everything before it: once it arrives, all earlier frames have. */
    const marker = async (client: TestClient, room: string, user: string, n: number): Promise<{ room: boolean }> => {
      await observer.request({ type: 'publish', channel: `room:${room}`, data: { probe: n } })
      await observer.request({ type: 'send', to: user, data: { marker: n } })
      await client.next((f) => f.type === 'message' && (f.data as { marker?: number }).marker === n)
      const probe = client.frames.findIndex((f) => f.type === 'message' && (f.data as { probe?: number }).probe === n)
      if (probe >= 0) client.frames.splice(probe, 1)
      await observer.next((f) => f.type === 'message' && (f.data as { probe?: number }).probe === n)
      return { room: probe >= 0 }
    }

    await fc.assert(fc.asyncProperty(fc.array(fc.constantFrom<Op>('join', 'leave', 'subscribe', 'unsubscribe'), { minLength: 1, maxLength: 8 }), async (ops) => {
      const n = run++
      const room = `m${n}`
      const user = `u${n}`
      const expected = model(ops)
      const seen = (): Array<'join' | 'leave'> => observer.frames
        .filter((f) => (f.type === 'join' || f.type === 'leave') && f.channel === `room:${room}` && f.user === user)
        .map((f) => f.type as 'join' | 'leave')
      const problems: string[] = []
      const check = (ok: boolean, what: string): void => { if (!ok) problems.push(what) }

      await observer.request({ type: 'join', room })
      const client = await TestClient.connect(stack.registryUrl, user)
      try {
        // Every operation in one write.
        const raw = (client.ws as unknown as { _socket: { cork (): void, uncork (): void } })._socket
        raw.cork()
        ops.forEach((op, i) => client.send(frameFor(op, room, i + 1)))
        raw.uncork()
        const replies: Frame[] = []
        for (let i = 1; i <= ops.length; i++) replies.push(await client.next((f) => f.id === i))
        check(JSON.stringify(replies.map((r) => r.type === 'error' ? String(r.code) : r.type)) === JSON.stringify(expected.replies),
          `replies ${JSON.stringify(replies.map((r) => r.type === 'error' ? r.code : r.type))}`)

        const { room: heard } = await marker(client, room, user, n)
        check(heard === expected.listening, `listening: ${String(heard)}`)
        check(await store.isMember(room, user) === expected.member, 'membership')
        check((await store.presence(`room:${room}`)).includes(user) === expected.listening, `presence ${JSON.stringify(await store.presence(`room:${room}`))}`)
        check(JSON.stringify(seen()) === JSON.stringify(expected.events), `events ${JSON.stringify(seen())}`)
      } finally {
        client.close()
        await client.closed
      }
      // After the close: out of presence, with a `leave` event if it was listening, and nothing more after that.
      await eventually(async () => !(await store.presence(`room:${room}`)).includes(user), `${user} gone from presence`)
      await observer.request({ type: 'publish', channel: `room:${room}`, data: { after: n } })
      await observer.next((f) => f.type === 'message' && (f.data as { after?: number }).after === n)
      check(!(await store.presence(`room:${room}`)).includes(user), 'presence after the close')
      check(JSON.stringify(seen()) === JSON.stringify(expected.listening ? [...expected.events, 'leave'] : expected.events), `events after the close ${JSON.stringify(seen())}`)
      await observer.request({ type: 'leave', room })
      observer.frames.length = 0
      if (problems.length > 0) {
        failures++
        throw new Error(`${ops.join(',')}: ${problems.join('; ')}`)
      }
    }), { numRuns: 500, endOnFailure: true })
    t.equal(failures, 0, `${run} sequences, every one consistent`)
  })
}
