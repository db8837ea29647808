/**
 * Rooms with owners, on each store and across two socket servers: the first
 * member owns a new room; an invite-only room lets in only those invited; an
 * owner or moderator kicks, bans (a banned user cannot rejoin) and mutes
 * (cannot publish) members of a lower role; the owner gives roles and sets
 * who may join, owner or moderators the title and topic; the member list
 * pages with roles. Every refusal is FORBIDDEN with a message saying why.
 */
import t from 'tap'
import { TestClient, eventually } from './helpers/client.js'
import type { Frame } from './helpers/client.js'
import { sdkClient } from './helpers/sdk.js'
import { CLUSTER_BACKENDS, openStore, startStack } from './helpers/stack.js'
import type { Moderated } from '../client/sdk/index.js'

for (const backend of CLUSTER_BACKENDS) {
  t.test(`${backend}: the store's rules for rooms with owners`, async (t) => {
    const { store } = await openStore(t, backend)
    t.equal(await store.enter('club', 'olga'), 'joined')
    t.same(await store.roomInfo('club'), { mode: 'public', owner: 'olga', title: '', topic: '' }, 'the first member owns a new room')
    t.equal(await store.roleOf('club', 'olga'), 'owner')
    t.equal(await store.enter('club', 'mo'), 'joined')
    t.equal(await store.roleOf('club', 'mo'), 'member')
    t.equal(await store.roleOf('club', 'nobody'), undefined)
    t.equal(await store.moderate('club', 'mo', { action: 'settings', mode: 'invite' }), 'role', 'a member may not change who joins')
    t.equal(await store.moderate('club', 'olga', { action: 'role', user: 'mo', role: 'moderator' }), 'ok')
    t.equal(await store.moderate('club', 'mo', { action: 'settings', mode: 'invite' }), 'role', 'nor a moderator')
    t.equal(await store.moderate('club', 'olga', { action: 'settings', mode: 'invite', title: 'The club' }), 'ok')
    t.equal(await store.moderate('club', 'mo', { action: 'settings', topic: 'members only' }), 'ok', 'a moderator sets the topic')
    t.same(await store.roomInfo('club'), { mode: 'invite', owner: 'olga', title: 'The club', topic: 'members only' })
    t.equal(await store.enter('club', 'guest'), 'invite_only')
    t.equal(await store.moderate('club', 'mo', { action: 'invite', user: 'guest' }), 'ok')
    t.equal(await store.enter('club', 'guest'), 'joined', 'an invitation lets in')
    t.equal(await store.moderate('club', 'guest', { action: 'invite', user: 'other' }), 'role', 'a member does not invite to an invite-only room')
    t.equal(await store.moderate('club', 'guest', { action: 'kick', user: 'mo' }), 'role')
    t.equal(await store.moderate('club', 'mo', { action: 'kick', user: 'olga' }), 'role', 'not the owner')
    t.equal(await store.moderate('club', 'mo', { action: 'mute', user: 'guest' }), 'ok')
    t.same(await store.append({ channel: 'room:club', framePrefix: '{"type":"message","channel":"room:club","from":"guest","data":1,"ts":1,"epoch":"', sender: 'guest', requireMember: true }),
      { status: 'muted' }, 'a muted member cannot publish')
    t.same((await store.memberPage('club', undefined, 2)), {
      members: [{ user: 'guest', role: 'member', muted: true }, { user: 'mo', role: 'moderator', muted: false }], more: true
    }, 'members by id, with roles')
    t.same((await store.memberPage('club', 'mo', 2)), { members: [{ user: 'olga', role: 'owner', muted: false }], more: false })
    t.equal(await store.moderate('club', 'mo', { action: 'ban', user: 'guest' }), 'ok')
    t.equal(await store.isMember('club', 'guest'), false, 'a ban removes the member')
    t.notOk((await store.roomsOf('guest')).includes('club'), 'from their rooms too')
    t.equal(await store.moderate('club', 'mo', { action: 'invite', user: 'guest' }), 'banned')
    t.equal(await store.enter('club', 'guest'), 'banned', 'and keeps them out')
    t.equal(await store.moderate('club', 'mo', { action: 'unban', user: 'guest' }), 'ok')
    t.equal(await store.enter('club', 'guest'), 'invite_only', 'unbanned, but still not invited')
    t.equal(await store.moderate('club', 'outsider', { action: 'kick', user: 'mo' }), 'not_member')
    t.equal(await store.moderate('club', 'mo', { action: 'kick', user: 'nobody' }), 'target')
    await store.leave('club', 'olga')
    t.equal(await store.enter('club', 'olga'), 'joined', 'the owner gets back into an invite-only room')
    t.equal(await store.join('club', 'server-side'), true, 'the server\'s own join is not bound by the rules')
  })

  t.test(`${backend}: invite-only rooms, kick and ban across servers, every refusal saying why`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const olga = await TestClient.connect(stack.registryUrl, 'olga')
    const bob = await TestClient.connect(stack.registryUrl, 'bob')
    t.teardown(() => { olga.close(); bob.close() })
    t.not(olga.welcome?.server, bob.welcome?.server, 'olga and bob are on different servers')
    await olga.request({ type: 'join', room: 'club' })
    t.match(await olga.request({ type: 'moderate', room: 'club', action: 'settings', mode: 'invite', title: 'Club' }), { type: 'moderated', channel: 'room:club' })
    t.match(await olga.request({ type: 'room', room: 'club' }), { type: 'room', mode: 'invite', owner: 'olga', title: 'Club', role: 'owner' })
    t.match(await bob.request({ type: 'join', room: 'club' }), { type: 'error', code: 'FORBIDDEN', reason: 'INVITE_ONLY', message: /invite-only/ })
    t.match(await bob.request({ type: 'room', room: 'club' }), { type: 'error', code: 'FORBIDDEN' }, 'an invite-only room is not shown to outsiders')
    await olga.request({ type: 'moderate', room: 'club', action: 'invite', user: 'bob' })
    t.match(await bob.next((f) => f.type === 'invited'), { channel: 'room:club', by: 'olga' }, 'bob hears of the invitation, on the other server')
    t.match(await bob.request({ type: 'join', room: 'club' }), { type: 'joined', channel: 'room:club' })
    t.match(await bob.request({ type: 'members', room: 'club' }), { members: [{ user: 'bob', role: 'member' }, { user: 'olga', role: 'owner' }] })
    t.match(await bob.request({ type: 'moderate', room: 'club', action: 'kick', user: 'olga' }), { type: 'error', code: 'FORBIDDEN', reason: 'ROLE', message: /owner or a moderator/ })
    t.match(await bob.request({ type: 'moderate', room: 'club', action: 'kick' }), { type: 'error', code: 'INVALID_FRAME', message: /user/ })

    await olga.request({ type: 'moderate', room: 'club', action: 'mute', user: 'bob' })
    t.match(await bob.request({ type: 'publish', channel: 'room:club', data: 'hi' }), { type: 'error', code: 'FORBIDDEN', reason: 'MUTED' })
    await olga.request({ type: 'moderate', room: 'club', action: 'unmute', user: 'bob' })
    const said = await bob.request({ type: 'publish', channel: 'room:club', data: 'spam' })
    t.match(said, { type: 'ack' }, 'unmuted, bob speaks again')
    t.match(await olga.request({ type: 'delete', channel: 'room:club', offset: said.offset }), { type: 'ack' }, 'the owner deletes a member\'s message')

    t.match(await olga.request({ type: 'moderate', room: 'club', action: 'kick', user: 'bob' }), { type: 'moderated', action: 'kick', user: 'bob' })
    t.match(await bob.next((f) => f.type === 'left' && f.id === undefined), { channel: 'room:club' }, 'bob\'s connection is told it left')
    t.match(await bob.request({ type: 'publish', channel: 'room:club', data: 'still here?' }), { type: 'error', code: 'FORBIDDEN', reason: 'NOT_MEMBER' })
    t.match(await bob.request({ type: 'join', room: 'club' }), { type: 'error', code: 'FORBIDDEN', reason: 'INVITE_ONLY' }, 'kicked: the invitation was used')

    await olga.request({ type: 'moderate', room: 'club', action: 'invite', user: 'bob' })
    await bob.request({ type: 'join', room: 'club' })
    t.match(await olga.request({ type: 'moderate', room: 'club', action: 'ban', user: 'bob' }), { type: 'moderated' })
    await bob.next((f) => f.type === 'left' && f.id === undefined)
    t.match(await olga.request({ type: 'moderate', room: 'club', action: 'invite', user: 'bob' }), { type: 'error', code: 'FORBIDDEN', reason: 'BANNED' })
    t.match(await bob.request({ type: 'join', room: 'club' }), { type: 'error', code: 'FORBIDDEN', reason: 'BANNED', message: /banned/ })
    const events = olga.frames.filter((f): f is Frame => f.type === 'moderated' && f.id === undefined).map((f) => f.action)
    t.ok(events.includes('kick') && events.includes('ban'), 'the room\'s listeners are told of each change')
  })
}

t.test('the SDK manages a room: settings, invitation, members, kick', async (t) => {
  const stack = await startStack(t, 'memory', { sockets: 2 })
  const olga = await sdkClient(t, stack.registryUrl, 'olga')
  const bob = await sdkClient(t, stack.registryUrl, 'bob')
  const invitations: Array<{ room: string, by: string }> = []
  bob.client.on('invited', (i) => { invitations.push(i) })
  const changes: Moderated[] = []
  olga.client.on('moderated', (c) => { changes.push(c) })
  await olga.client.join('club')
  await olga.client.moderate('club', { action: 'settings', mode: 'invite', topic: 'plans' })
  t.match(await olga.client.room('club'), { mode: 'invite', owner: 'olga', topic: 'plans', role: 'owner' })
  await t.rejects(bob.client.join('club'), { code: 'FORBIDDEN' })
  await olga.client.moderate('club', { action: 'invite', user: 'bob' })
  await eventually(() => invitations.length === 1, 'bob is invited')
  t.same(invitations[0], { room: 'club', by: 'olga' })
  await bob.client.join('club')
  t.same(await olga.client.members('club'), { members: [{ user: 'bob', role: 'member', muted: false }, { user: 'olga', role: 'owner', muted: false }], more: false })
  const left: string[] = []
  bob.client.on('left', (room) => { left.push(room) })
  await olga.client.moderate('club', { action: 'kick', user: 'bob' })
  await eventually(() => left.length === 1, 'bob\'s client stops listening')
  t.notOk(bob.client.rooms.includes('club'))
  await eventually(() => changes.some((c) => c.action === 'kick'), 'olga hears of it as a listener')
  await t.rejects(bob.client.moderate('club', { action: 'kick', user: 'olga' }), { code: 'FORBIDDEN' })
})
