/**
 * The Store contract for direct conversations and storage quotas, on every
 * backend: a conversation is stored once, in its own channel, and heard
 * through its users' personal channels; reading one creates nothing; the
 * conversation list pages newest first; what one user's messages may make
 * the store keep is counted fleet-wide.
 */
import t from 'tap'
import { RedisStore } from '../plugins/store/index.js'
import type { AppendInput, AppendResult, Store } from '../plugins/store/index.js'
import { NO_HISTORY } from '../plugins/store/types.js'
import type { LiveFrame, StoredFrame } from '../plugins/store/types.js'
import { CLUSTER_BACKENDS, openStore } from './helpers/stack.js'
import { eventually } from './helpers/client.js'

const prefix = (channel: string, n: number): string => `{"type":"message","channel":"${channel}","n":${n},"epoch":"`

function dm (from: string, to: string, n: number, extra: Partial<AppendInput> = {}): AppendInput {
  const channel = from <= to ? `dm:${from}:${to}` : `dm:${to}:${from}`
  return { channel, framePrefix: prefix(channel, n), sender: from, participants: from === to ? [from] : [from, to].sort(), ...extra }
}

function offsetOf (result: AppendResult): string {
  if (result.status !== 'appended' && result.status !== 'duplicate') throw new Error(`refused: ${JSON.stringify(result)}`)
  return result.offset
}

const ns = async (store: Store, channel: string): Promise<number[]> => (await store.history(channel, undefined, 100)).map((f) => JSON.parse(f.text).n as number)

for (const backend of CLUSTER_BACKENDS) {
  t.test(`${backend}: a conversation is stored once and heard through its users' personal channels`, async (t) => {
    const { store } = await openStore(t, backend)
    const heard = new Map<string, LiveFrame[]>()
    for (const channel of ['user:alice', 'user:bob', 'user:carol', 'dm:alice:bob']) {
      heard.set(channel, [])
      await store.subscribe(channel, (_c, frame) => { heard.get(channel)?.push(frame) })
    }
    // A live frame as a stored one: its text byte for byte and its offset (its channel is checked apart).
    const asStored = (channel: string): StoredFrame[] | undefined => heard.get(channel)?.map(({ offset, text }) => ({ offset: offset ?? 'none', text }))
    offsetOf(await store.append(dm('alice', 'bob', 1)))
    offsetOf(await store.append(dm('bob', 'alice', 2)))
    offsetOf(await store.append(dm('carol', 'carol', 3)))
    // A marker after them: once it is heard, everything before it was.
    offsetOf(await store.append(dm('alice', 'bob', 4)))
    await eventually(() => heard.get('user:bob')?.length === 3 && heard.get('user:carol')?.length === 1, 'the frames')
    const stored = await store.history('dm:alice:bob', undefined, 10)
    t.same(stored.map((f) => JSON.parse(f.text).n), [1, 2, 4], 'both users write to the one channel of the pair')
    t.same(asStored('user:alice'), stored, 'alice hears it, byte for byte')
    t.same(asStored('user:bob'), stored, 'so does bob')
    t.same(heard.get('dm:alice:bob'), [], 'nothing is published on the conversation itself')
    t.same(heard.get('user:alice')?.map((f) => f.channel), ['dm:alice:bob', 'dm:alice:bob', 'dm:alice:bob'], 'heard on a personal channel, each belongs to the conversation')
    t.same(heard.get('user:bob')?.map((f) => f.channel), ['dm:alice:bob', 'dm:alice:bob', 'dm:alice:bob'])
    t.same(heard.get('user:carol')?.map((f) => f.channel), ['dm:carol:carol'])
    t.same(await ns(store, 'dm:carol:carol'), [3], 'a conversation with oneself')
    t.same(await ns(store, 'user:bob'), [], 'nothing is stored on personal channels')
    const { epoch } = await store.position('dm:alice:bob')
    t.ok(stored.every((f) => JSON.parse(f.text).epoch === epoch), 'each frame carries the epoch of its channel')
    t.match(await store.conversations('bob', undefined, 10), [{ channel: 'dm:alice:bob', epoch, offset: JSON.parse(stored[2]?.text ?? '{}').offset }])
    t.same((await store.conversations('carol', undefined, 10)).map((c) => c.channel), ['dm:carol:carol'])
    t.same(await store.conversations('dave', undefined, 10), [], 'no conversations, an empty list')
  })

  t.test(`${backend}: reading a conversation that has no history creates nothing`, async (t) => {
    const { store, redis, prefix: keyPrefix } = await openStore(t, backend, { historySize: 3 })
    t.same(await store.position('dm:alice:zed'), { epoch: NO_HISTORY, offset: '0-0' })
    t.same(await store.recover('dm:alice:zed', { epoch: 'AAAA', offset: '5-0' }), { epoch: NO_HISTORY, offset: '0-0', recovered: false, messages: [] },
      'a position in an epoch that is gone is not recovered')
    t.match(await store.recover('dm:alice:zed', { epoch: NO_HISTORY, offset: '0-0' }), { recovered: true, messages: [] }, 'one that saw it empty is')
    t.same(await store.history('dm:alice:zed', undefined, 10), [])
    if (redis !== null) t.equal(await redis.exists(`${keyPrefix}{dm:alice:zed}:meta`, `${keyPrefix}{dm:alice:zed}:hist`), 0, 'no key was made')
    const first = offsetOf(await store.append(dm('zed', 'alice', 1)))
    const fromEmpty = await store.recover('dm:alice:zed', { epoch: NO_HISTORY, offset: '0-0' })
    t.match(fromEmpty, { recovered: true }, 'a client that saw it empty gets everything since…')
    t.same(fromEmpty.messages.map((f) => JSON.parse(f.text).offset), [first])
    t.same(fromEmpty.messages.map((f) => f.offset), [first])
    for (let n = 2; n <= 5; n++) offsetOf(await store.append(dm('zed', 'alice', n)))
    t.match(await store.recover('dm:alice:zed', { epoch: NO_HISTORY, offset: '0-0' }), { recovered: false }, '…unless some of it was trimmed away')
    t.not((await store.position('dm:alice:zed')).epoch, NO_HISTORY, 'the first message gave it an epoch')
    t.equal((await store.position('room:new')).epoch === NO_HISTORY, false, 'rooms get one when first read, as before')
    t.same(await store.position('user:newcomer'), { epoch: NO_HISTORY, offset: '0-0' }, 'a personal channel does not: it gets one from its first notice')
    if (redis !== null) t.equal(await redis.exists(`${keyPrefix}{user:newcomer}:meta`), 0, 'no key was made for it')
  })

  t.test(`${backend}: the conversation list pages newest first, keeps the newest, moves a conversation up with each message`, async (t) => {
    const { store } = await openStore(t, backend, { maxConversations: 4 })
    for (const peer of ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']) offsetOf(await store.append(dm(peer, 'me', 1)))
    offsetOf(await store.append(dm('me', 'p3', 2)))
    const pages: string[][] = []
    let after
    for (let i = 0; i < 5; i++) {
      const page = await store.conversations('me', after, 1)
      if (page.length === 0) break
      pages.push(page.map((c) => c.channel))
      after = page[page.length - 1]
    }
    const listed = pages.flat()
    t.equal(listed.length, 4, 'the list keeps the newest maxConversations')
    t.equal(new Set(listed).size, 4, 'paging lists each once')
    const p3 = (await store.conversations('me', undefined, 10)).find((c) => c.channel === 'dm:me:p3')
    t.ok(p3 !== undefined && listed.length > 0 && (await store.conversations('me', undefined, 1))[0]?.at === p3.at, 'a new message moves a conversation to the top')
    t.notOk(listed.includes('dm:me:p1') || listed.includes('dm:me:p2'), 'the oldest fell off')
    const all = await store.conversations('me', undefined, 10)
    t.same(all.map((c) => c.channel), listed, 'pages of one are the list')
    t.ok(all.every((c, i) => i === 0 || (all[i - 1]?.at ?? 0) >= c.at), 'newest first')
  })

  t.test(`${backend}: storage quotas count messages, bytes and channels per window, fleet-wide`, async (t) => {
    const limits = { quotaWindowMs: 60_000, quotaMessages: 4, quotaBytes: 0, quotaChannels: 0 }
    const handle = await openStore(t, backend, limits)
    const { store } = handle
    for (let n = 1; n <= 3; n++) offsetOf(await store.append(dm('mallory', `v${n}`, n, { mid: `m${n}` })))
    // Another socket server of the fleet: the same counts.
    let other: Store = store
    if (handle.redis !== null) {
      const subscriber = handle.redis.duplicate()
      other = new RedisStore({ client: handle.redis, subscriber, prefix: handle.prefix, limits })
      t.teardown(async () => { await other.close(); subscriber.disconnect() })
    }
    offsetOf(await other.append(dm('mallory', 'v4', 4)))
    const refused = await store.append(dm('mallory', 'v5', 5))
    t.match(refused, { status: 'quota', budget: 'messages' }, 'the 5th message of the window is refused, whichever server takes it')
    t.ok(refused.status === 'quota' && refused.retryAfterMs > 0 && refused.retryAfterMs <= 60_000, 'with the time until the window ends')
    t.equal(await store.history('dm:mallory:v5', undefined, 10).then((h) => h.length), 0, 'and nothing of it is stored')
    t.match(await store.append(dm('mallory', 'v1', 1, { mid: 'm1' })), { status: 'duplicate' }, 'a retry of a stored message is still acknowledged')
    offsetOf(await store.append(dm('alice', 'v1', 1)))
    t.pass('other users are not affected')
  })

  t.test(`${backend}: one batch holding a sender's messages past a budget stores exactly up to it`, async (t) => {
    const { store } = await openStore(t, backend, { quotaWindowMs: 60_000, quotaMessages: 3, quotaBytes: 0, quotaChannels: 2 })
    // All asked in one turn: one script call (per slot on Cluster), the sender's usage read once and written once.
    const results = await Promise.all([1, 2, 3, 4, 5].map(async (n) => await store.append(dm('mallory', n % 2 === 0 ? 'v1' : 'v2', n))))
    t.same(results.map((r) => r.status), ['appended', 'appended', 'appended', 'quota', 'quota'], 'the first three, in order')
    const third = await Promise.all([store.append(dm('eve', 'v1', 1)), store.append(dm('eve', 'v2', 2)), store.append(dm('eve', 'v3', 3)), store.append(dm('eve', 'v1', 4))])
    t.same(third.map((r) => r.status), ['appended', 'appended', 'quota', 'appended'], 'a third channel is refused; the first two still take messages')
    t.match(third[2], { budget: 'channels' })
    t.match(await store.append(dm('mallory', 'v1', 6)), { status: 'quota', budget: 'messages' }, 'the counts were written: the next call sees them')
  })

  t.test(`${backend}: the bytes and channels budgets`, async (t) => {
    const { store } = await openStore(t, backend, { quotaWindowMs: 60_000, quotaMessages: 0, quotaBytes: 600, quotaChannels: 2 })
    const big = (to: string, n: number): AppendInput => {
      const input = dm('mallory', to, n)
      return { ...input, framePrefix: input.framePrefix.replace('"n":', `"pad":"${'x'.repeat(100)}","n":`) }
    }
    offsetOf(await store.append(big('v1', 1)))
    offsetOf(await store.append(big('v2', 2)))
    t.match(await store.append(big('v3', 3)), { status: 'quota', budget: 'channels' }, 'a third channel in the window is refused')
    offsetOf(await store.append(big('v1', 4)))
    t.match(await store.append(big('v2', 5)), { status: 'quota', budget: 'bytes' }, 'the channels written so far take messages until the bytes run out')
  })

  t.test(`${backend}: a quota window ends`, async (t) => {
    const { store } = await openStore(t, backend, { quotaWindowMs: 400, quotaMessages: 1, quotaBytes: 0, quotaChannels: 0 })
    offsetOf(await store.append(dm('mallory', 'v', 1)))
    const refused = await store.append(dm('mallory', 'v', 2))
    if (refused.status !== 'quota') throw new Error(`expected a quota refusal, got ${refused.status}`)
    await new Promise((resolve) => setTimeout(resolve, refused.retryAfterMs + 50))
    t.match(await store.append(dm('mallory', 'v', 3)), { status: 'appended' }, 'after retryAfterMs the next window takes messages again')
  })

  t.test(`${backend}: a user may be a member of maxRoomsPerUser rooms`, async (t) => {
    const { store } = await openStore(t, backend, { maxRoomsPerUser: 2 })
    t.equal(await store.join('a', 'mallory'), true)
    t.equal(await store.join('b', 'mallory'), true)
    t.equal(await store.join('c', 'mallory'), false, 'a third is refused')
    t.equal(await store.isMember('c', 'mallory'), false, 'and nothing changed')
    t.equal(await store.join('a', 'mallory'), true, 'joining one already joined is fine')
    await store.leave('a', 'mallory')
    t.equal(await store.join('c', 'mallory'), true, 'after leaving one, another')
    t.same(await store.roomsOf('mallory'), ['b', 'c'])
  })
}
