/**
 * Recovery after reconnect: every message sent while a client was away is
 * replayed exactly once and in order, on another server, with no gap or
 * duplicate against live delivery, or the client is told it cannot be.
 */
import t from 'tap'
import type { Test } from 'tap'
import { TestClient, eventually, sleep } from './helpers/client.js'
import type { Frame } from './helpers/client.js'
import { CLUSTER_BACKENDS, startStack } from './helpers/stack.js'
import type { Stack } from './helpers/stack.js'

interface Since { offset: string, epoch: string }

/** Makes the registry steer clear of `serverId` (as if it were busy). */
async function avoid (stack: Stack, serverId: string): Promise<void> {
  await stack.handle.store.adjustLoad(serverId, 1000)
}

function serverOf (client: TestClient): string {
  return String(client.welcome?.server)
}

function checkChannel (t: Test, frames: Frame[], channel: string, expected: string[], what: string): void {
  const got = frames.filter((f) => f.type === 'message' && f.channel === channel).map((f) => f.offset as string)
  t.equal(got.length, expected.length, `${what}: count`)
  t.same(got, expected, `${what}: every offset exactly once, in order`)
}

for (const backend of CLUSTER_BACKENDS) {
  t.test(`${backend}: 100 messages sent while away are recovered on another server`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 3 })
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    const userSince = { offset: alice.welcome?.offset, epoch: alice.welcome?.epoch } as Since
    const joined = await alice.request({ type: 'join', room: 'r' })
    const roomSince = { offset: joined.offset, epoch: joined.epoch } as Since
    const first = serverOf(alice)
    alice.ws.terminate()

    const bob = await TestClient.connect(stack.registryUrl, 'bob')
    const carol = await TestClient.connect(stack.registryUrl, 'carol')
    t.teardown(() => { bob.close(); carol.close() })
    await carol.request({ type: 'join', room: 'r' })
    const dmAcks: string[] = []
    const roomAcks: string[] = []
    for (let n = 0; n < 50; n++) {
      dmAcks.push((await bob.request({ type: 'send', to: 'alice', data: { n }, mid: `b${n}` })).offset as string)
      roomAcks.push((await carol.request({ type: 'publish', channel: 'room:r', data: { n }, mid: `c${n}` })).offset as string)
    }

    await avoid(stack, first)
    const back = await TestClient.connect(stack.registryUrl, 'alice', userSince)
    t.teardown(() => back.close())
    t.not(serverOf(back), first, 'reconnected to a different server')
    t.match(back.welcome, { recovered: true, epoch: userSince.epoch, rooms: ['r'] })
    const subscribed = await back.request({ type: 'subscribe', channel: 'room:r', since: roomSince })
    t.match(subscribed, { type: 'subscribed', recovered: true, epoch: roomSince.epoch, offset: roomAcks[49] })
    // A conversation begun while away is in the conversation list; never seen, it is recovered from its start.
    const listed = await back.request({ type: 'conversations' })
    t.match(listed.conversations, [{ channel: 'dm:alice:bob', offset: dmAcks[49] }])
    const epoch = (listed.conversations as Array<{ epoch: string }>)[0]?.epoch ?? ''
    t.match(await back.request({ type: 'subscribe', channel: 'dm:alice:bob', since: { epoch, offset: '0-0' } }), { recovered: true, epoch, offset: dmAcks[49] })
    await eventually(() => back.pending('message').length >= 100, 3000, '100 replayed')

    // Live delivery continues after the replay; a marker after the live messages says when everything has arrived.
    const liveDm = (await bob.request({ type: 'send', to: 'alice', data: 'live' })).offset as string
    const liveRoom = (await carol.request({ type: 'publish', channel: 'room:r', data: 'live' })).offset as string
    const marker = (await carol.request({ type: 'publish', channel: 'room:r', data: 'marker' })).offset as string
    await back.next((f) => f.offset === marker)
    checkChannel(t, back.frames, 'dm:alice:bob', [...dmAcks, liveDm], 'direct messages')
    checkChannel(t, back.frames, 'room:r', [...roomAcks, liveRoom], 'room messages')
  })

  t.test(`${backend}: messages published during the resubscribe are neither lost nor doubled`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 3 })
    for (let round = 0; round < 3; round++) {
      const alice = await TestClient.connect(stack.registryUrl, `alice${round}`)
      const user = `alice${round}`
      const userSince = { offset: alice.welcome?.offset, epoch: alice.welcome?.epoch } as Since
      const joined = await alice.request({ type: 'join', room: `busy${round}` })
      const roomSince = { offset: joined.offset, epoch: joined.epoch } as Since
      alice.ws.terminate()

      const bob = await TestClient.connect(stack.registryUrl, `bob${round}`)
      await bob.request({ type: 'join', room: `busy${round}` })
      const dmAcks: string[] = []
      const roomAcks: string[] = []
      const state = { publishing: true }
      const publisher = (async () => {
        for (let n = 0; state.publishing || n < 40; n++) {
          const dm = bob.request({ type: 'send', to: user, data: { n } })
          const room = bob.request({ type: 'publish', channel: `room:busy${round}`, data: { n } })
          dmAcks.push((await dm).offset as string)
          roomAcks.push((await room).offset as string)
        }
      })()
      await sleep(20 + round * 15)
      const back = await TestClient.connect(stack.registryUrl, user, userSince)
      await back.request({ type: 'subscribe', channel: `room:busy${round}`, since: roomSince })
      // The conversation's frames come from the welcome on; those before the reply are in its replay too.
      const dm = `dm:${user}:bob${round}`
      const recovered = await back.request({ type: 'subscribe', channel: dm, since: { epoch: '-', offset: '0-0' } })
      t.equal(recovered.recovered, true, `round ${round}: a conversation never seen is recovered from its start`)
      await sleep(50)
      state.publishing = false
      await publisher
      const marker = (await bob.request({ type: 'publish', channel: `room:busy${round}`, data: 'marker' })).offset as string
      await back.next((f) => f.offset === marker, 4000)
      const afterReply = back.frames.filter((f) => f.channel !== dm || back.arrivalOf(f) > back.arrivalOf(recovered))
      checkChannel(t, afterReply, dm, dmAcks, `round ${round} direct messages`)
      checkChannel(t, back.frames, `room:busy${round}`, roomAcks, `round ${round} room messages`)
      back.close()
      bob.close()
    }
  })

  t.test(`${backend}: recovered:false when the gap exceeds history`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2, limits: { historySize: 10 } })
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    const bob = await TestClient.connect(stack.registryUrl, 'bob')
    t.teardown(() => bob.close())
    await bob.request({ type: 'send', to: 'alice', data: 'first' })
    const seen = await alice.next((f) => f.type === 'message')
    const since = { offset: seen.offset, epoch: seen.epoch } as Since
    alice.ws.terminate()
    for (let n = 0; n < 15; n++) await bob.request({ type: 'send', to: 'alice', data: { n } })
    const back = await TestClient.connect(stack.registryUrl, 'alice')
    t.teardown(() => back.close())
    const reply = await back.request({ type: 'subscribe', channel: 'dm:alice:bob', since })
    t.match(reply, { recovered: false, epoch: since.epoch })
    await back.request({ type: 'join', room: 'marker' })
    t.same(back.pending('message'), [], 'nothing is replayed when the replay would have a hole')
    const page = await back.request({ type: 'history', channel: 'dm:alice:bob', limit: 100 })
    const kept = (page.messages as Frame[]).length
    t.ok(kept >= 10 && kept <= 11, `the client can reload what history still holds (${kept}: 10 plus up to 10% before the next trim)`)
  })

  t.test(`${backend}: recovered:false when history was lost (new epoch)`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 1, limits: { historyTtlMs: 300 } })
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    t.teardown(() => alice.close())
    await alice.request({ type: 'join', room: 'fleeting' })
    await alice.request({ type: 'publish', channel: 'room:fleeting', data: 1 })
    const mark = await alice.request({ type: 'subscribe', channel: 'room:fleeting' })
    await sleep(450) // the history expires
    await alice.request({ type: 'unsubscribe', channel: 'room:fleeting' })
    const again = await alice.request({ type: 'subscribe', channel: 'room:fleeting', since: { offset: mark.offset, epoch: mark.epoch } })
    t.equal(again.recovered, false)
    t.not(again.epoch, mark.epoch, 'a new epoch tells the client its offsets are void')
  })

  t.test(`${backend}: a repeated mid is acknowledged with the original offset and delivered once`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    const bob = await TestClient.connect(stack.registryUrl, 'bob')
    t.teardown(() => { alice.close(); bob.close() })
    const first = await alice.request({ type: 'send', to: 'bob', data: 'once', mid: 'dm-1' })
    const again = await alice.request({ type: 'send', to: 'bob', data: 'once', mid: 'dm-1' })
    t.equal(again.offset, first.offset)
    await alice.request({ type: 'join', room: 'x' })
    const p1 = await alice.request({ type: 'publish', channel: 'room:x', data: 'once', mid: 'room-1' })
    const p2 = await alice.request({ type: 'publish', channel: 'room:x', data: 'once', mid: 'room-1' })
    t.equal(p2.offset, p1.offset)
    const marker = await bob.request({ type: 'send', to: 'alice', data: 'marker' })
    await alice.next((f) => f.offset === marker.offset)
    await bob.next((f) => f.offset === marker.offset)
    t.equal(bob.pending('message').length, 1, 'bob got the direct message once')
    t.equal(alice.pending('message').filter((f) => f.channel === 'room:x').length, 1, 'the room got it once')
    t.equal(alice.pending('message').filter((f) => f.channel === 'dm:alice:bob').length, 1, 'and the sender once')
  })
}
