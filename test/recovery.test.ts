/**
 * Recovery after reconnect: every message sent while a client was away is
 * replayed exactly once and in order, on another server, with no gap or
 * duplicate against live delivery, or the client is told it cannot be.
 */
import t from 'tap'
import type { Test } from 'tap'
import { TestClient, eventually } from './helpers/client.js'
import type { Frame } from './helpers/client.js'
import { heldStore } from './helpers/held-store.js'
import type { StoreCall } from './helpers/held-store.js'
import { CLUSTER_BACKENDS, openStore, startRegistry, startSocket, startStack } from './helpers/stack.js'
import { storeTimePasses } from './helpers/store-time.js'
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
    const listed = ((await back.request({ type: 'conversations' })).conversations as Array<{ channel: string, epoch: string }>).filter((c) => c.channel.startsWith('dm:'))
    t.match(listed, [{ channel: 'dm:alice:bob', offset: dmAcks[49] }])
    const epoch = listed[0]?.epoch ?? ''
    t.match(await back.request({ type: 'subscribe', channel: 'dm:alice:bob', since: { epoch, offset: '0-0' } }), { recovered: true, epoch, offset: dmAcks[49] })
    await eventually(() => back.pending('message').length >= 100, '100 replayed')

    // Live delivery continues after the replay; a marker after the live messages says when everything has arrived.
    const liveDm = (await bob.request({ type: 'send', to: 'alice', data: 'live' })).offset as string
    const liveRoom = (await carol.request({ type: 'publish', channel: 'room:r', data: 'live' })).offset as string
    const marker = (await carol.request({ type: 'publish', channel: 'room:r', data: 'marker' })).offset as string
    await back.next((f) => f.offset === marker)
    checkChannel(t, back.frames, 'dm:alice:bob', [...dmAcks, liveDm], 'direct messages')
    checkChannel(t, back.frames, 'room:r', [...roomAcks, liveRoom], 'room messages')
  })

  // A subscribe with `since` makes the channel's live subscription, reads the history after `since`, replies, replays,
  // then sends the live frames held meanwhile that the replay did not cover. A message published in each window
  // between those steps must reach the client once: the server is held there (held-store.ts) while one is.
  const windows: Array<{ name: string, room: [StoreCall, 'before' | 'after'], dm?: [StoreCall, 'before' | 'after'] }> = [
    { name: 'before the live subscription is made (history only)', room: ['subscribe', 'before'] },
    { name: 'between the live subscription and the read of history (live and history)', room: ['recover', 'before'], dm: ['recover', 'before'] },
    { name: 'between the read of history and the reply (live only)', room: ['recover', 'after'], dm: ['recover', 'after'] }
  ]
  for (const [round, window] of windows.entries()) {
    t.test(`${backend}: a message published ${window.name} while a client resubscribes is neither lost nor doubled`, async (t) => {
      const handle = await openStore(t, backend)
      const held = heldStore(await handle.ownStore())
      await startSocket(t, handle, 's1', { store: held.store })
      const { url: registryUrl } = await startRegistry(t, handle)
      const user = `alice${round}`
      const room = `busy${round}`
      const dm = `dm:${user}:bob${round}`
      // Bob is a member who does not listen, so that only alice's subscription brings the room to this server.
      const bob = await TestClient.connect(registryUrl, `bob${round}`)
      t.teardown(() => bob.close())
      await bob.request({ type: 'join', room })
      await bob.request({ type: 'unsubscribe', channel: `room:${room}` })
      const alice = await TestClient.connect(registryUrl, user)
      const userSince = { offset: alice.welcome?.offset, epoch: alice.welcome?.epoch } as Since
      const joined = await alice.request({ type: 'join', room })
      const roomSince = { offset: joined.offset, epoch: joined.epoch } as Since
      alice.ws.terminate()
      await eventually(() => held.calls.filter((c) => c === `unsubscribe room:${room}`).length === 2, 'the server to stop listening to the room')

      const dmAcks: string[] = []
      const roomAcks: string[] = []
      const publish = async (from: number, to: number): Promise<void> => {
        for (let n = from; n < to; n++) {
          dmAcks.push((await bob.request({ type: 'send', to: user, data: { n } })).offset as string)
          roomAcks.push((await bob.request({ type: 'publish', channel: `room:${room}`, data: { n } })).offset as string)
        }
      }
      await publish(0, 5) // while alice is away

      const roomHold = held.hold(window.room[0], `room:${room}`, window.room[1])
      const dmHold = window.dm === undefined ? undefined : held.hold(window.dm[0], dm, window.dm[1])
      const back = await TestClient.connect(registryUrl, user, userSince)
      t.teardown(() => back.close())
      back.send({ type: 'subscribe', id: 'room', channel: `room:${room}`, since: roomSince })
      // The conversation's frames come from the welcome on; those before the reply are in its replay too.
      back.send({ type: 'subscribe', id: 'dm', channel: dm, since: { epoch: '-', offset: '0-0' } })
      await Promise.all([roomHold.reached, dmHold?.reached])
      await publish(5, 10) // inside the window
      roomHold.release()
      dmHold?.release()
      t.match(await back.next((f) => f.id === 'room'), { type: 'subscribed', recovered: true, epoch: roomSince.epoch })
      const recovered = await back.next((f) => f.id === 'dm')
      t.equal(recovered.recovered, true, 'a conversation never seen is recovered from its start')
      await publish(10, 15) // after the replies

      const marker = (await bob.request({ type: 'publish', channel: `room:${room}`, data: 'marker' })).offset as string
      await back.next((f) => f.offset === marker)
      const afterReply = back.frames.filter((f) => f.channel !== dm || back.arrivalOf(f) > back.arrivalOf(recovered))
      checkChannel(t, afterReply, dm, dmAcks, 'direct messages')
      checkChannel(t, back.frames, `room:${room}`, roomAcks, 'room messages')
    })
  }

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
    await storeTimePasses(stack.handle.store, 300) // the history expires
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
    // A marker on each channel: channels are delivered independently (the room's may wait for its recovery read).
    const marker = await bob.request({ type: 'send', to: 'alice', data: 'marker' })
    const roomMarker = await alice.request({ type: 'publish', channel: 'room:x', data: 'marker' })
    await alice.next((f) => f.channel === 'dm:alice:bob' && f.offset === marker.offset)
    await alice.next((f) => f.channel === 'room:x' && f.offset === roomMarker.offset)
    await bob.next((f) => f.offset === marker.offset)
    t.equal(bob.pending('message').length, 1, 'bob got the direct message once')
    t.equal(alice.pending('message').filter((f) => f.channel === 'room:x').length, 1, 'the room got it once')
    t.equal(alice.pending('message').filter((f) => f.channel === 'dm:alice:bob').length, 1, 'and the sender once')
  })
}
