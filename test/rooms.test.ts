/**
 * Rooms across socket servers: fan-out exactly once and in order, membership
 * enforced, presence across servers with join/leave once per user.
 */
import t from 'tap'
import { TestClient, eventually } from './helpers/client.js'
import type { Frame } from './helpers/client.js'
import { CLUSTER_BACKENDS, startStack } from './helpers/stack.js'

for (const backend of CLUSTER_BACKENDS) {
  t.test(`${backend}: room fan-out across 3 servers, exactly once, in publish order`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 3 })
    const members: TestClient[] = []
    for (let i = 0; i < 30; i++) members.push(await TestClient.connect(stack.registryUrl, `m${i}`))
    t.teardown(() => { for (const m of members) m.close() })
    const servers = new Set(members.map((m) => new URL(m.ws.url).port))
    t.equal(servers.size, 3, 'members are spread over all three servers')
    for (const m of members) {
      const joined = await m.request({ type: 'join', room: 'general' })
      t.equal(joined.type, 'joined')
    }
    t.match((await members[0]?.request({ type: 'join', room: 'general' })), { type: 'joined', channel: 'room:general' })

    const publishers = [members[0], members[11], members[22]] as TestClient[]
    const perPublisher = 10
    for (let n = 0; n < perPublisher; n++) {
      for (const [p, publisher] of publishers.entries()) publisher.send({ type: 'publish', id: `p${p}-${n}`, channel: 'room:general', data: { p, n } })
    }
    const total = perPublisher * publishers.length
    for (const m of members) {
      await eventually(() => m.pending('message').length >= total, `${total} messages`)
    }
    // A marker after them on the same channel: once a member has it, any duplicate would have come before it.
    const marker = await members[29]?.request({ type: 'publish', channel: 'room:general', data: 'marker' })
    for (const m of members) await m.next((f) => f.offset === marker?.offset)
    for (const [i, m] of members.entries()) {
      const got = m.pending('message')
      t.equal(got.length, total, `member ${i} got each message once`)
      const offsets = got.map((f) => f.offset as string)
      t.equal(new Set(offsets).size, total, `member ${i}: no duplicates`)
      for (let p = 0; p < publishers.length; p++) {
        const order = got.filter((f) => (f.data as { p: number }).p === p).map((f) => (f.data as { n: number }).n)
        t.same(order, [...Array(perPublisher).keys()], `member ${i}: publisher ${p} in order`)
      }
    }
    for (const [p, publisher] of publishers.entries()) {
      const acks = publisher.pending('ack').filter((f) => String(f.id).startsWith(`p${p}-`))
      t.equal(acks.length, perPublisher, `publisher ${p} got every ack`)
    }
  })

  t.test(`${backend}: only members may publish, subscribe, read history or list presence`, async (t) => {
    // One server: alice, on eve's server, sees it fan a message out to its listeners (eve's no-delivery check below).
    const stack = await startStack(t, backend, { sockets: 1 })
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    const eve = await TestClient.connect(stack.registryUrl, 'eve')
    t.teardown(() => { alice.close(); eve.close() })
    await alice.request({ type: 'join', room: 'secret' })
    await alice.request({ type: 'publish', channel: 'room:secret', data: 'classified' })

    for (const frame of [
      { type: 'publish', channel: 'room:secret', data: 'hi' },
      { type: 'subscribe', channel: 'room:secret' },
      { type: 'history', channel: 'room:secret' },
      { type: 'presence', channel: 'room:secret' },
      { type: 'subscribe', channel: 'user:alice' },
      { type: 'history', channel: 'user:alice' },
      { type: 'publish', channel: 'user:alice', data: 'not via publish' }
    ]) {
      const reply = await eve.request(frame)
      t.match(reply, { type: 'error', code: 'FORBIDDEN' }, `${frame.type} ${frame.channel}`)
    }
    for (const frame of [
      { type: 'subscribe', channel: 'lobby' },
      { type: 'history', channel: 'room:' },
      { type: 'presence', channel: 'room:a b' },
      { type: 'publish', channel: 'team:x', data: 1 }
    ]) {
      t.match(await eve.request(frame), { type: 'error', code: 'INVALID_CHANNEL' }, `${frame.type} ${frame.channel}`)
    }
    t.match(await eve.request({ type: 'join', room: 'bad room' }), { type: 'error', code: 'INVALID_FRAME' })
    t.match(await eve.request({ type: 'unsubscribe', channel: 'user:eve' }), { type: 'error', code: 'FORBIDDEN' })
    t.same(eve.pending('message'), [], 'eve saw nothing')

    // After joining, the same requests work.
    await eve.request({ type: 'join', room: 'secret' })
    const history = await eve.request({ type: 'history', channel: 'room:secret' })
    t.match(history.messages, [{ from: 'alice', data: 'classified', channel: 'room:secret' }])
    t.match(await eve.request({ type: 'publish', channel: 'room:secret', data: 'hello' }), { type: 'ack', channel: 'room:secret' })
    t.match(await alice.next((f) => f.type === 'message' && f.from === 'eve'), { data: 'hello' })

    // Leaving stops delivery and access.
    t.match(await eve.request({ type: 'leave', room: 'secret' }), { type: 'left', channel: 'room:secret' })
    await alice.request({ type: 'publish', channel: 'room:secret', data: 'after eve left' })
    // Alice has it: the server has handed it to every listener of the room. Eve's reply below comes after anything handed to her.
    await alice.next((f) => f.type === 'message' && f.data === 'after eve left')
    t.match(await eve.request({ type: 'history', channel: 'room:secret' }), { code: 'FORBIDDEN' })
    t.notOk(eve.pending('message').some((f) => f.data === 'after eve left'), 'no delivery after leave')
  })

  t.test(`${backend}: join and leave reach every connection of the user, on every server; leave stops them all`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const phone = await TestClient.connect(stack.registryUrl, 'bob')
    const laptop = await TestClient.connect(stack.registryUrl, 'bob')
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    t.teardown(() => { phone.close(); laptop.close(); alice.close() })
    t.not(phone.welcome?.server, laptop.welcome?.server, 'bob\'s two connections are on different servers')
    await phone.request({ type: 'join', room: 'crew' })
    const told = await laptop.next((f) => f.type === 'joined' && f.id === undefined)
    t.match(told, { type: 'joined', channel: 'room:crew', since: { epoch: String, offset: String } }, 'the other server\'s connection is told of the join, with the position to subscribe from')
    t.match(await phone.next((f) => f.type === 'joined' && f.id === undefined), { channel: 'room:crew' }, 'so is the one that joined')
    t.match(await laptop.request({ type: 'subscribe', channel: 'room:crew' }), { type: 'subscribed' })
    await alice.request({ type: 'join', room: 'crew' })
    // A listener on the other server than alice's, to see that server fan the room's messages out.
    const witness = await TestClient.connect(stack.registryUrl, 'witness')
    t.teardown(() => witness.close())
    t.not(witness.welcome?.server, alice.welcome?.server, 'alice and the witness are on different servers')
    await witness.request({ type: 'join', room: 'crew' })
    await alice.request({ type: 'publish', channel: 'room:crew', data: 'before' })
    for (const device of [phone, laptop]) t.match(await device.next((f) => f.type === 'message' && f.data === 'before'), { channel: 'room:crew' })

    t.match(await phone.request({ type: 'leave', room: 'crew' }), { type: 'left', channel: 'room:crew' })
    for (const [name, device] of [['the other server\'s connection', laptop], ['the one that left', phone]] as const) {
      t.same(await device.next((f) => f.type === 'left' && f.id === undefined), { type: 'left', channel: 'room:crew' }, `${name} is told`)
    }
    await alice.request({ type: 'publish', channel: 'room:crew', data: 'after' })
    // Both servers have handed it to the room's listeners there; a reply to each device comes after anything handed to it.
    for (const listener of [alice, witness]) await listener.next((f) => f.type === 'message' && f.data === 'after')
    for (const device of [phone, laptop]) await device.request({ type: 'presence', channel: 'user:bob' })
    t.notOk([...phone.pending('message'), ...laptop.pending('message')].some((f) => f.data === 'after'), 'neither connection gets the room any more')
    t.match(await laptop.request({ type: 'subscribe', channel: 'room:crew' }), { type: 'error', code: 'FORBIDDEN' }, 'and cannot listen again without joining')
  })

  t.test(`${backend}: history pages backwards`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 1 })
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    t.teardown(() => alice.close())
    await alice.request({ type: 'join', room: 'log' })
    for (let n = 1; n <= 7; n++) await alice.request({ type: 'publish', channel: 'room:log', data: n })
    const newest = await alice.request({ type: 'history', channel: 'room:log', limit: 3 })
    const page1 = newest.messages as Frame[]
    t.same(page1.map((m) => m.data), [5, 6, 7])
    const older = await alice.request({ type: 'history', channel: 'room:log', limit: 3, before: page1[0]?.offset })
    t.same((older.messages as Frame[]).map((m) => m.data), [2, 3, 4])
    t.match(await alice.request({ type: 'history', channel: 'room:log', limit: 1000 }), { type: 'error', code: 'INVALID_FRAME' })
    const dms = await alice.request({ type: 'history', channel: 'user:alice' })
    t.same(dms.messages, [], 'personal history is readable by its owner')
  })

  t.test(`${backend}: presence across servers; join/leave once per user`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2, held: true })
    /** How many times `server` has told the store that a user stopped listening to the room there (a leave it announces is published by then). */
    const removals = (server: unknown): number => stack.held[stack.sockets.findIndex((s) => s.switchboardSocket.serverId === server)]?.done
      .filter((call) => call === 'presenceRemove room:hall').length ?? 0
    /** Once `server` has told the store of its `count`th removal, a marker on the room: any event published before it has arrived. */
    const settled = async (server: unknown, count: number): Promise<void> => {
      await eventually(() => removals(server) === count, `${String(server)} to tell the store that bob left it`)
      const marker = await watcher.request({ type: 'publish', channel: 'room:hall', data: 'marker' })
      await watcher.next((f) => f.offset === marker.offset)
    }
    const watcher = await TestClient.connect(stack.registryUrl, 'watcher')
    t.teardown(() => watcher.close())
    await watcher.request({ type: 'join', room: 'hall' })
    t.match(await watcher.next((f) => f.type === 'join'), { channel: 'room:hall', user: 'watcher' }, 'one sees one\'s own arrival')

    const bob1 = await TestClient.connect(stack.registryUrl, 'bob')
    const bob2 = await TestClient.connect(stack.registryUrl, 'bob')
    t.teardown(() => { bob1.close(); bob2.close() })
    t.not(new URL(bob1.ws.url).port, new URL(bob2.ws.url).port, "bob's two connections are on different servers")
    await bob1.request({ type: 'join', room: 'hall' })
    await bob2.request({ type: 'subscribe', channel: 'room:hall' })

    t.match(await watcher.next((f) => f.type === 'join' && f.user === 'bob'), { channel: 'room:hall' })
    const list = await watcher.request({ type: 'presence', channel: 'room:hall' })
    t.same(list.users, ['bob', 'watcher'])
    t.same((await watcher.request({ type: 'presence', channel: 'user:bob' })).users, ['bob'], 'whether bob is online is public')

    const bob1Removals = removals(bob1.welcome?.server)
    bob1.close()
    await settled(bob1.welcome?.server, bob1Removals + 1)
    t.same(watcher.pending('leave'), [], 'no leave while another connection of bob is there')
    t.same((await watcher.request({ type: 'presence', channel: 'room:hall' })).users, ['bob', 'watcher'])
    const bob2Removals = removals(bob2.welcome?.server)
    bob2.ws.terminate()
    t.match(await watcher.next((f) => f.type === 'leave' && f.user === 'bob'), { channel: 'room:hall' })
    t.same((await watcher.request({ type: 'presence', channel: 'room:hall' })).users, ['watcher'])
    await settled(bob2.welcome?.server, bob2Removals + 1)
    t.same(watcher.pending('join'), [], 'exactly one join event')
    t.same(watcher.pending('leave'), [], 'exactly one leave event')
  })
}
