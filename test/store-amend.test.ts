/**
 * The Store contract for edits and deletes, on every backend: an amendment
 * is stored and delivered like a message, the message it amends shows its
 * latest version wherever it is read, only its author may amend it, and a
 * deleted message's text (and its edits') is in no key of Redis afterwards.
 */
import t from 'tap'
import type { AmendInput, AmendResult, AppendInput, LiveFrame, Store } from '../plugins/store/types.js'
import { compareOffsets } from '../plugins/store/types.js'
import { CLUSTER_BACKENDS, openStore } from './helpers/stack.js'
import { eventually } from './helpers/client.js'

const head = (channel: string, from: string): string => `{"type":"message","channel":"${channel}","from":"${from}"`

function post (room: string, from: string, text: string): AppendInput {
  const channel = `room:${room}`
  return { channel, framePrefix: `${head(channel, from)},"data":${JSON.stringify(text)},"ts":1,"epoch":"`, sender: from, requireMember: true }
}

function amend (room: string, from: string, target: string, text: string | null, extra: Partial<AmendInput> = {}): AmendInput {
  const channel = `room:${room}`
  const kind = text === null ? 'delete' : 'edit'
  const dataJson = JSON.stringify(text)
  return {
    channel,
    target,
    kind,
    dataJson,
    at: 7,
    sender: from,
    requireMember: true,
    framePrefix: `${head(channel, from)},"${kind}":"${target}","data":${dataJson},"ts":7,"epoch":"`,
    ...extra
  }
}

async function offsetOf (result: Promise<AmendResult>): Promise<string> {
  const r = await result
  if (r.status !== 'appended' && r.status !== 'duplicate') throw new Error(`refused: ${JSON.stringify(r)}`)
  return r.offset
}

const texts = async (store: Store, channel: string): Promise<unknown[]> => (await store.history(channel, undefined, 100)).map((f) => JSON.parse(f.text))

for (const backend of CLUSTER_BACKENDS) {
  t.test(`${backend}: an edit and a delete are stored like messages, and the message shows its latest version`, async (t) => {
    const { store, redis } = await openStore(t, backend)
    for (const user of ['alice', 'bob']) t.ok(await store.join('r', user))
    const heard: LiveFrame[] = []
    await store.subscribe('room:r', (_c, frame) => { heard.push(frame) })
    const m1 = await offsetOf(store.append(post('r', 'alice', 'the secret plan')))
    const m2 = await offsetOf(store.append(post('r', 'bob', 'hi')))
    const e1 = await offsetOf(store.amend(amend('r', 'alice', m1, 'the public plan')))
    await eventually(() => heard.length === 3, 'the edit is heard live')
    t.match(JSON.parse(heard[2]?.text ?? '{}'), { from: 'alice', edit: m1, data: 'the public plan', prev: m2, offset: e1 }, 'an edit frame, after the newest message')
    t.match(await texts(store, 'room:r'), [
      { offset: m1, data: 'the public plan', edited: 7, from: 'alice' },
      { offset: m2, data: 'hi' },
      { offset: e1, edit: m1 }
    ], 'history: the message in its latest version, and the edit in its place')
    const edited = (await store.history('room:r', undefined, 100))[0]?.text ?? ''
    t.equal(JSON.parse(edited).prev, '0-0', 'the rest of the frame is as it was')

    t.same(await store.amend(amend('r', 'bob', m1, 'mine now')), { status: 'not_author' }, 'only its author')
    t.match(await store.amend(amend('r', 'bob', m1, 'mine now', { anyone: true })), { status: 'appended' }, 'or a moderator')
    t.same(await store.amend(amend('r', 'alice', '1-0', 'nothing')), { status: 'missing' }, 'a message that is not there')
    t.same(await store.amend(amend('r', 'alice', e1, 'x')), { status: 'missing' }, 'an edit is not a message')
    t.same(await store.amend(amend('r', 'carol', m1, 'x')), { status: 'forbidden' }, 'a room\'s messages only by its members')
    const d1 = await offsetOf(store.amend(amend('r', 'alice', m1, null, { mid: 'del-1' })))
    t.same(await store.amend(amend('r', 'alice', m1, null, { mid: 'del-1' })), { status: 'duplicate', offset: d1 }, 'a resend with its mid')
    t.same(await store.amend(amend('r', 'alice', m1, null)), { status: 'missing' }, 'a deleted message is gone')
    const after = await texts(store, 'room:r')
    t.match(after[0], { offset: m1, data: null, deleted: true })
    t.match(after[2], { offset: e1, delete: m1, data: null }, 'its edits lose their text too')
    t.notOk(JSON.stringify(after).includes('plan') || JSON.stringify(after).includes('mine now'), 'no reply holds its text')
    const recovered = await store.recover('room:r', { epoch: (await store.position('room:r')).epoch, offset: '0-0' })
    t.notOk(recovered.messages.some((f) => f.text.includes('plan')), 'nor a replay')
    t.match(JSON.parse((await store.conversations('alice', undefined, 10))[0]?.last ?? '{}'), { offset: m2, data: 'hi' },
      'the list\'s newest message is the newest message, not an edit or delete')
    t.match(await store.markRead('bob', 'room:r', m2), { unread: 0 }, 'edits and deletes are not unread')
    const m3 = await offsetOf(store.append(post('r', 'alice', 'three')))
    t.match((await store.conversations('bob', undefined, 10))[0], { unread: 1, offset: m3 })

    if (redis !== null) {
      // Everything Redis keeps, as it would save it: no key holds the deleted text, not even in a stream node's deleted entries.
      const nodes = 'nodes' in redis ? redis.nodes('master') : [redis]
      let dumped = 0
      for (const node of nodes) {
        let cursor = '0'
        do {
          const [next, keys] = await node.scan(cursor, 'COUNT', 1000)
          cursor = next
          for (const key of keys) {
            const dump = await node.dumpBuffer(key)
            dumped++
            t.notOk(dump !== null && (dump.includes('secret plan') || dump.includes('public plan') || dump.includes('mine now')), `${key} holds none of it`)
          }
        } while (cursor !== '0')
      }
      t.ok(dumped > 0)
    }
  })

  t.test(`${backend}: an edit of a long conversation's old message keeps every offset and the order`, async (t) => {
    const { store } = await openStore(t, backend)
    t.ok(await store.join('long', 'alice'))
    const offsets: string[] = []
    for (let i = 0; i < 250; i++) offsets.push(await offsetOf(store.append(post('long', 'alice', `m${i}`))))
    t.same(await store.amend(amend('long', 'alice', offsets[10] ?? '', 'too late')), { status: 'too_old' }, 'only the newest 100 can be changed')
    await offsetOf(store.amend(amend('long', 'alice', offsets[160] ?? '', 'edited')))
    await offsetOf(store.amend(amend('long', 'alice', offsets[200] ?? '', null)))
    const all = (await store.history('room:long', undefined, 100)).concat()
    t.equal(all.length, 100)
    const full = await store.read('room:long', { after: '0-0', upTo: (await store.position('room:long')).offset }, { limit: 1000, maxBytes: 1 << 24 })
    t.same(full?.slice(0, 250).map((f) => f.offset), offsets, 'the same offsets, in order')
    t.match(JSON.parse(full?.[10]?.text ?? '{}'), { data: 'm10' })
    t.match(JSON.parse(full?.[160]?.text ?? '{}'), { data: 'edited' })
    t.match(JSON.parse(full?.[200]?.text ?? '{}'), { data: null, deleted: true })
    t.equal(full?.length, 252, 'and the two amendments after them')
    const m = await offsetOf(store.append(post('long', 'alice', 'after')))
    t.ok(compareOffsets(m, full?.[full.length - 1]?.offset ?? '9-9') > 0, 'new messages go on after them')
  })
}

for (const backend of CLUSTER_BACKENDS) {
  t.test(`${backend}: changes are trimmed like messages, and do not move a room up the list`, async (t) => {
    const { store } = await openStore(t, backend, { historySize: 20 })
    for (const room of ['a', 'b']) t.ok(await store.join(room, 'alice'))
    const first = await offsetOf(store.append(post('a', 'alice', 'in a')))
    const later = await offsetOf(store.append(post('b', 'alice', 'in b')))
    let edits = 0
    while (edits < 40 && (await store.amend(amend('a', 'alice', first, `edit ${edits}`))).status === 'appended') edits++
    t.ok(edits >= 20 && edits < 40, `edited ${edits} times, until the message itself was trimmed away`)
    t.ok((await store.read('room:a', { after: '0-0', upTo: '99999999999999-0' }, { limit: 1000, maxBytes: 1 << 24 }) ?? []).length <= 22,
      'a channel edited over and over keeps to its history size')
    const list = await store.conversations('alice', undefined, 10)
    t.equal(list[0]?.channel, 'room:b', 'the room with the newest message is first: edits are not messages')
    t.equal(list[0]?.offset, later)
  })
}
