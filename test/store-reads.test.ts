/**
 * The Store contract for read state and the conversation list, on every
 * backend: read positions never go back and count what is unread exactly;
 * receipts are kept for direct conversations and small rooms; the list holds
 * direct conversations and rooms, newest first, each with its unread count,
 * read position and newest message, and pages across both.
 */
import t from 'tap'
import type { AppendInput, AppendResult } from '../plugins/store/index.js'
import { LAST_MESSAGE_MAX_BYTES, NO_HISTORY } from '../plugins/store/types.js'
import type { ConversationEntry, Store } from '../plugins/store/types.js'
import { CLUSTER_BACKENDS, openStore } from './helpers/stack.js'

const prefix = (channel: string, from: string, text: string): string =>
  `{"type":"message","channel":"${channel}","from":"${from}","data":${JSON.stringify(text)},"epoch":"`

function dm (from: string, to: string, text: string): AppendInput {
  const channel = from <= to ? `dm:${from}:${to}` : `dm:${to}:${from}`
  return { channel, framePrefix: prefix(channel, from, text), sender: from, participants: [from, to].sort() }
}

function post (room: string, from: string, text: string): AppendInput {
  const channel = `room:${room}`
  return { channel, framePrefix: prefix(channel, from, text), sender: from, requireMember: true }
}

async function offsetOf (result: Promise<AppendResult>): Promise<string> {
  const r = await result
  if (r.status !== 'appended' && r.status !== 'duplicate') throw new Error(`refused: ${JSON.stringify(r)}`)
  return r.offset
}

const find = async (store: Store, user: string, channel: string): Promise<ConversationEntry | undefined> =>
  (await store.conversations(user, undefined, 100)).find((c) => c.channel === channel)

for (const backend of CLUSTER_BACKENDS) {
  t.test(`${backend}: a read position counts what is unread, never goes back, and moves the receipt`, async (t) => {
    const { store } = await openStore(t, backend)
    const ch = 'dm:alice:bob'
    const m1 = await offsetOf(store.append(dm('alice', 'bob', 'one')))
    const m2 = await offsetOf(store.append(dm('alice', 'bob', 'two')))
    const m3 = await offsetOf(store.append(dm('alice', 'bob', 'three')))
    t.match(await find(store, 'bob', ch), { unread: 3, offset: m3 }, 'nothing read: every message of the epoch is unread')
    t.notOk((await find(store, 'bob', ch))?.read, 'and there is no read position')
    const { epoch } = await store.position(ch)
    t.same(await store.markRead('bob', ch, m2), { epoch, offset: m2, unread: 1, moved: true, receipt: true })
    t.match(await find(store, 'bob', ch), { read: m2, unread: 1 })
    t.match(await find(store, 'alice', ch), { unread: 0 }, 'read state is per user: the sender\'s own messages are not unread to her')
    t.same(await store.markRead('bob', ch, m1), { epoch, offset: m2, unread: 1, moved: false, receipt: false }, 'an older position changes nothing')
    t.same(await store.markRead('bob', ch, m2), { epoch, offset: m2, unread: 1, moved: false, receipt: false }, 'nor does the same one')
    t.same(await store.receipts(ch), [{ user: 'bob', offset: m2 }], 'the other member sees how far bob read')
    t.same(await store.markRead('bob', ch, '99999999999999-0'), { epoch, offset: m3, unread: 0, moved: true, receipt: true },
      'a position past the newest message is the newest message')
    const m4 = await offsetOf(store.append(dm('alice', 'bob', 'four')))
    t.match(await find(store, 'bob', ch), { read: m3, unread: 1 }, 'a new message is unread')
    const m5 = await offsetOf(store.append(dm('bob', 'alice', 'five')))
    t.match(await find(store, 'bob', ch), { read: m3, unread: 1 }, 'the user\'s own message is not')
    t.match(await find(store, 'alice', ch), { unread: 1 }, 'to the other it is (alice read nothing; her own four are not unread)')
    t.match(await store.markRead('bob', ch, m4), { offset: m4, unread: 0 }, 'read up to the other\'s last: nothing unread, his own after it counts not')
    await store.markRead('alice', ch, m5)
    t.same(await store.receipts(ch), [{ user: 'alice', offset: m5 }, { user: 'bob', offset: m4 }], 'receipts by user')
    const m6 = await offsetOf(store.append(dm('alice', 'bob', 'six')))
    t.match(await find(store, 'bob', ch), { read: m4, unread: 1, offset: m6 }, 'counted on from a position taken before the user\'s own message')
    t.equal(await store.markRead('bob', 'dm:bob:nobody', '5-0'), undefined, 'a conversation without history has nothing to read')
    t.same(await store.receipts('dm:bob:nobody'), [])
  })

  t.test(`${backend}: an initial position is set only where there is none`, async (t) => {
    const { store } = await openStore(t, backend)
    t.ok(await store.join('general', 'alice'))
    await offsetOf(store.append(post('general', 'alice', 'before bob')))
    const { offset: joinedAt } = await store.position('room:general')
    t.ok(await store.join('general', 'bob'))
    t.match(await store.markRead('bob', 'room:general', joinedAt, true), { offset: joinedAt, unread: 0, moved: true })
    const later = await offsetOf(store.append(post('general', 'alice', 'after bob')))
    t.match(await store.markRead('bob', 'room:general', later, true), { offset: joinedAt, unread: 1, moved: false }, 'a second join does not skip the unread')
    t.match(await find(store, 'bob', 'room:general'), { read: joinedAt, unread: 1, offset: later })
  })

  t.test(`${backend}: rooms above maxReceiptMembers keep no receipts`, async (t) => {
    const { store } = await openStore(t, backend, { maxReceiptMembers: 2 })
    for (const user of ['a', 'b']) t.ok(await store.join('small', user))
    for (const user of ['a', 'b', 'c']) t.ok(await store.join('big', user))
    const small = await offsetOf(store.append(post('small', 'a', 'hi')))
    const big = await offsetOf(store.append(post('big', 'a', 'hi')))
    t.match(await store.markRead('b', 'room:small', small), { receipt: true, moved: true })
    t.match(await store.markRead('b', 'room:big', big), { receipt: false, moved: true, unread: 0 }, 'the read position is kept all the same')
    t.same(await store.receipts('room:small'), [{ user: 'b', offset: small }])
    t.same(await store.receipts('room:big'), [])
    await store.leave('small', 'b')
    t.same(await store.receipts('room:small'), [], 'a member who left is not listed')
    t.ok(await store.join('small', 'c'))
    t.ok(await store.join('small', 'd'))
    t.same(await store.receipts('room:small'), [], 'nor anyone once the room has grown past maxReceiptMembers')
  })

  t.test(`${backend}: the list holds rooms and direct conversations, newest first, with their newest message`, async (t) => {
    const { store } = await openStore(t, backend)
    for (const room of ['quiet', 'busy', 'old']) t.ok(await store.join(room, 'me'))
    t.ok(await store.join('busy', 'zoe'))
    await offsetOf(store.append(post('old', 'me', 'first')))
    await offsetOf(store.append(dm('zoe', 'me', 'hello me')))
    await offsetOf(store.append(post('busy', 'zoe', 'a')))
    const newest = await offsetOf(store.append(post('busy', 'zoe', 'b')))
    const big = 'x'.repeat(LAST_MESSAGE_MAX_BYTES)
    await offsetOf(store.append(dm('ann', 'me', big)))
    const list = await store.conversations('me', undefined, 100)
    t.same(list.map((c) => c.channel).sort(), ['dm:ann:me', 'dm:me:zoe', 'room:busy', 'room:old', 'room:quiet'], 'every room and conversation')
    // Messages stored in the same millisecond tie: then the channel decides, descending.
    t.ok(list.every((c, i) => i === 0 || (list[i - 1]?.at ?? 0) > c.at || ((list[i - 1]?.at ?? 0) === c.at && (list[i - 1]?.channel ?? '') > c.channel)),
      'newest first')
    t.equal(list[4]?.channel, 'room:quiet', 'a room without messages last')
    const busy = list.find((c) => c.channel === 'room:busy')
    t.match(busy, { offset: newest, unread: 2 })
    t.equal(busy?.at, Number(newest.split('-')[0]), 'a room is placed by its newest message')
    t.match(JSON.parse(busy?.last ?? '{}'), { from: 'zoe', data: 'b', offset: newest }, 'its newest message, as delivered')
    t.match(JSON.parse(list.find((c) => c.channel === 'dm:me:zoe')?.last ?? '{}'), { data: 'hello me' })
    t.match(list.find((c) => c.channel === 'dm:ann:me'), { unread: 1, last: undefined }, 'a newest message over LAST_MESSAGE_MAX_BYTES is left out')
    t.match(list[4], { at: 0, unread: 0, last: undefined })
    const pages: string[] = []
    let after: ConversationEntry | undefined
    for (let i = 0; i < 10; i++) {
      const page = await store.conversations('me', after, 2)
      if (page.length === 0) break
      t.ok(page.length <= 2, 'a page holds at most limit')
      pages.push(...page.map((c) => c.channel))
      after = page[page.length - 1]
    }
    t.same(pages, list.map((c) => c.channel), 'pages across rooms and conversations list each once, in order')
    t.same((await store.conversations('me', undefined, 100, { rooms: false })).map((c) => c.channel).sort(), ['dm:ann:me', 'dm:me:zoe'],
      'direct conversations only, when asked (the relay healing a personal channel)')
    await store.leave('old', 'me')
    t.notOk((await store.conversations('me', undefined, 100)).some((c) => c.channel === 'room:old'), 'a room left is no longer listed')
  })

  t.test(`${backend}: a room never written is listed without history, and listing creates none`, async (t) => {
    const { store } = await openStore(t, backend)
    t.ok(await store.join('never', 'me'))
    t.match(await find(store, 'me', 'room:never'), { epoch: NO_HISTORY, offset: '0-0', unread: 0 }, 'a room never written, not created by listing')
  })
}
