/**
 * The chat page's model without a browser: where messages are filed, in
 * what order, that overlapping history and live delivery show each once,
 * and what counts as unread.
 */
import t from 'tap'
import { ChatModel, GROUP_MS, LOBBY, continues, textOf } from '../client/web/src/model.js'
import type { ChatMessage } from '../client/web/src/model.js'
import type { Message } from '../client/sdk/index.js'

function message (channel: string, offset: string, from: string, text: string, to?: string): Message {
  return { channel, offset, from, data: { text }, ts: 1_700_000_000_000, ...(to === undefined ? {} : { to }) }
}

t.test('direct messages are filed by the other person, rooms by room, the lobby nowhere', async (t) => {
  const model = new ChatModel('alice')
  t.equal(model.add(message('dm:alice:bob', '1-0', 'bob', 'hi', 'alice'), true, true)?.conversation.id, 'dm:bob')
  t.equal(model.add(message('dm:alice:bob', '2-0', 'alice', 'hello', 'bob'), true, true)?.conversation.id, 'dm:bob', 'mine go to the same conversation')
  t.equal(model.dm('bob').channel, 'dm:alice:bob', 'whose history is the pair\'s channel')
  t.equal(model.add(message('dm:alice:carol', '1-0', 'carol', 'hey', 'alice'), true, true)?.conversation.id, 'dm:carol')
  t.equal(model.add(message('room:team', '1-0', 'bob', 'x'), true, true)?.conversation.id, 'room:team')
  t.equal(model.add(message(`room:${LOBBY}`, '1-0', 'bob', 'x'), true, true), undefined, 'the lobby is not a conversation')
  t.equal(model.add(message('user:alice', '3-0', 'bob', 'old protocol', 'alice'), true, true), undefined, 'a message on a personal channel is not chat')
  t.equal(model.add(message('dm:alice:bob', '3-0', 'bob', 'no recipient'), true, true), undefined, 'nor one without `to`')
  t.same([...model.conversations.keys()].sort(), ['dm:bob', 'dm:carol', 'room:team'])
})

t.test('messages stay in offset order, each once, whichever way they arrive', async (t) => {
  const model = new ChatModel('alice')
  const room = model.room('team')
  for (const offset of ['10-0', '12-0']) model.add(message('room:team', offset, 'bob', offset), true, true)
  // An older history page overlapping what arrived live.
  const page = ['8-0', '9-0', '10-0'].map((offset) => message('room:team', offset, 'bob', offset))
  const added = page.map((m) => model.add(m, false, true))
  t.same(added.map((a) => a?.index), [0, 1, undefined], 'older ones go first; the one already shown is skipped')
  t.equal(model.add(message('room:team', '11-3', 'bob', '11-3'), true, true)?.index, 3, 'a late one goes in its place')
  t.same(room.messages.map((m) => m.offset), ['8-0', '9-0', '10-0', '11-3', '12-0'], 'numeric order: 9-0 before 10-0')
})

t.test('unread: live messages from others in a conversation not being read', async (t) => {
  const model = new ChatModel('alice')
  model.active = 'room:team'
  model.add(message('room:team', '1-0', 'bob', 'seen'), true, true)
  model.add(message('dm:alice:bob', '1-0', 'bob', 'a', 'alice'), true, true)
  model.add(message('dm:alice:bob', '2-0', 'alice', 'mine', 'bob'), true, true)
  model.add(message('dm:alice:bob', '0-5', 'bob', 'old', 'alice'), false, true)
  model.add(message('room:team', '2-0', 'bob', 'tab hidden'), true, false)
  t.equal(model.room('team').unread, 1, 'the open room counts only what came while the tab was hidden')
  t.equal(model.dm('bob').unread, 1, 'not my own messages, not history')
  t.equal(model.unreadTotal, 2)
  model.forget('room:team')
  t.equal(model.active, undefined, 'forgetting the open conversation closes it')
  t.equal(model.unreadTotal, 1)
})

t.test('unread from the server: the list\'s count, then only what comes after what it counted; a read elsewhere', async (t) => {
  const model = new ChatModel('alice')
  const room = model.room('ops')
  model.readUpTo(room, '1-0', 5, '6-0')
  t.equal(room.unread, 5, 'the list says 5')
  for (let n = 2; n <= 6; n++) model.add(message('room:ops', `${n}-0`, 'bob', `room ${n}`), true, false)
  t.equal(room.unread, 5, 'the replay of those 5, arriving after the list, is not counted again')
  model.add(message('room:ops', '7-0', 'bob', 'new'), true, false)
  t.equal(room.unread, 6, 'a newer one is')
  model.readUpTo(room, '6-0', 0)
  t.equal(room.unread, 1, 'read up to 6-0 on another device: what came after it here still counts')
  t.equal(model.toMarkRead(room), '7-0', 'seeing it marks the newest message read')
  t.equal(model.toMarkRead(room), undefined, 'once')
})

t.test('text of a message', async (t) => {
  t.equal(textOf({ text: 'hi' }), 'hi')
  t.equal(textOf({ n: 1 }), '{"n":1}', 'anything else is shown as JSON')
  t.equal(textOf(null), 'null')
})

t.test('a message continues its sender\'s group when it follows theirs within GROUP_MS', async (t) => {
  const m = (from: string, ts: number): ChatMessage => ({ offset: `${ts}-0`, from, text: '', ts, edited: false, deleted: false })
  t.equal(continues(undefined, m('a', 0)), false, 'the first starts a group')
  t.equal(continues(m('a', 0), m('a', GROUP_MS - 1)), true)
  t.equal(continues(m('a', 0), m('a', GROUP_MS)), false, 'too long after')
  t.equal(continues(m('a', 0), m('b', 1)), false, 'another sender')
  t.equal(continues(m('a', 10), m('a', 5)), false, 'a clock that went back starts a new one')
})
