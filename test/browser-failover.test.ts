/**
 * The chat page across a socket server crash and a drain, with real
 * processes: a registry, two socket servers and a health checker over a
 * private redis-server. Alice and bob land on different servers; bob's is
 * killed with SIGKILL; his page shows it is reconnecting (with a countdown)
 * while alice keeps writing to him and to their room, and once his page gets
 * an allocation on the surviving server (alice's) it shows every one of those
 * messages exactly once. Then a third server joins and the one holding both
 * drains (SIGTERM): both pages follow it there, again missing nothing. UPDATE_SCREENSHOTS=1 also
 * rewrites docs/screenshots/chat-reconnecting.png.
 */
import t from 'tap'
import { eventually } from './helpers/client.js'
import { startProcessCluster } from './helpers/processes.js'
import { sharedRedis, uniquePrefix } from './helpers/redis.js'
import { conversationButton, joinRoom, launchBrowser, live, messages, onlineButton, say, screenshot, serverOf, signIn } from './helpers/browser.js'

t.test('kill -9, then drain, of the server holding bob: his page reconnects and shows what was sent meanwhile, once', async (t) => {
  const redis = await sharedRedis()
  const cluster = await startProcessCluster(t, {
    redisUrl: redis.url, prefix: uniquePrefix(), sockets: 2, health: true, env: { HEARTBEAT_TIMEOUT_MS: '1000', LOG_LEVEL: 'warn' }
  })
  const browser = await launchBrowser(t)
  const alice = await signIn(browser, cluster.registryUrl, 'alice')
  const bob = await signIn(browser, cluster.registryUrl, 'bob')
  const aliceServer = await serverOf(alice)
  const bobServer = await serverOf(bob)
  t.ok(aliceServer !== bobServer && [aliceServer, bobServer].every((s) => /^s[12]$/.test(s)), `alice is on ${aliceServer}, bob on ${bobServer}`)

  await joinRoom(alice, 'ops')
  await joinRoom(bob, 'ops')
  await onlineButton(alice, 'bob').click()
  await say(alice, 'before the crash')
  await conversationButton(bob, 'alice').click()
  await messages(bob, 'before the crash').waitFor()

  // Bob's page may ask the registry for a new server only once alice is done: everything
  // below is sent while he is away.
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  let asked = 0
  await bob.context().route((url) => url.pathname === '/allocate', async (route) => {
    asked++
    await gate
    await route.continue()
  })

  const victim = cluster.sockets[Number(bobServer.slice(1)) - 1]
  victim?.child.kill('SIGKILL')
  await bob.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor()
  t.match(await bob.locator('#connection .countdown').textContent(), /^(in \d+ s|now…)$/, 'bob sees that his page is reconnecting, with a countdown')
  t.equal(await onlineButton(bob, 'alice').count(), 0, 'offline, his page shows no one as online (it cannot know)')
  t.equal(await bob.locator('#online-count').textContent(), '(0)')
  await screenshot(bob, 'chat-reconnecting.png')

  for (let n = 1; n <= 5; n++) await say(alice, `dm ${n}`)
  await messages(alice, 'dm 5').waitFor()
  await conversationButton(alice, '#ops').click()
  for (let n = 1; n <= 5; n++) await say(alice, `room ${n}`)
  await messages(alice, 'room 5').waitFor()
  t.pass('alice carries on: her messages are stored while bob is away')
  await eventually(() => asked > 0, 'bob to ask the registry for a server')
  t.match(await bob.getByRole('status').textContent(), /Reconnecting/, 'bob was still away while alice wrote')
  await bob.getByRole('textbox', { name: 'Message', exact: true }).fill('written while away')
  await bob.getByRole('button', { name: 'Send' }).click()
  await bob.locator('#unsent li.pending').filter({ hasText: 'written while away' }).waitFor()
  t.equal(await bob.getByRole('textbox', { name: 'Message', exact: true }).inputValue(), '', 'what bob writes while away leaves the input…')
  t.pass('…and waits in the conversation, greyed')

  // The health checker evicts the dead server, so the registry can only offer the other one.
  await eventually(async () => {
    const { servers } = await (await fetch(`${cluster.registryUrl}/servers`)).json() as { servers: Array<{ id: string, alive: boolean }> }
    return !servers.some((s) => s.id === bobServer && s.alive)
  }, `${bobServer} to be seen dead`)
  release() // from now on the route passes every request straight through
  await live(bob, 'bob')
  const bobAfterKill = await serverOf(bob)
  t.equal(bobAfterKill, aliceServer, 'bob is back, on the surviving server (alice\'s)')
  await onlineButton(bob, 'alice').waitFor()
  t.pass('back online, he sees alice online again')
  t.notMatch(await bob.locator('header.top').textContent(), /\bs[123]\b/, 'no socket server id is shown to him')

  await messages(bob, 'written while away').waitFor()
  await bob.locator('#unsent li').first().waitFor({ state: 'detached' })
  t.same(await bob.locator('#messages li .text').allTextContents(), ['before the crash', 'dm 1', 'dm 2', 'dm 3', 'dm 4', 'dm 5', 'written while away'],
    'every direct message sent meanwhile, exactly once, in order, then his, sent once he was back')
  await alice.getByRole('button', { name: 'bob 1 unread' }).waitFor()
  t.pass('alice got it (she is in #ops: it counts as unread)')
  await bob.getByRole('button', { name: '#ops 5 unread' }).waitFor()
  t.pass('the room shows 5 unread messages')
  await conversationButton(bob, '#ops').click()
  await messages(bob, 'room 5').waitFor()
  t.same(await bob.locator('#messages li .text').allTextContents(), ['room 1', 'room 2', 'room 3', 'room 4', 'room 5'],
    'every room message sent meanwhile, exactly once, in order')

  // A drain: a third server joins, and the one holding both hands them to it while alice keeps writing.
  await cluster.addSocket()
  const draining = cluster.sockets[Number(bobAfterKill.slice(1)) - 1]
  const stopped = draining?.stop('SIGTERM')
  for (let n = 6; n <= 8; n++) await say(alice, `room ${n}`)
  t.equal(await stopped, 0, 'the drained server exits cleanly')
  await messages(bob, 'room 8').waitFor()
  await live(bob, 'bob')
  await live(alice, 'alice')
  t.equal(await serverOf(bob), 's3', 'bob followed the drain to the new server')
  t.equal(await serverOf(alice), 's3', 'so did alice')
  t.same(await bob.locator('#messages li .text').allTextContents(), Array.from({ length: 8 }, (_, i) => `room ${i + 1}`),
    'nothing lost or doubled across the drain')
})
