/**
 * The chat page when a Redis master restarts empty (no persistence), with
 * real processes (a registry and a socket server) over a private
 * redis-server that is killed and started again on its port: memberships
 * are gone, so the page's rooms cannot be resubscribed. The page says so for
 * each room, keeps it in the list marked, and offers to join it again,
 * instead of dropping it silently.
 */
import t from 'tap'
import { startProcessCluster } from './helpers/processes.js'
import { restartableRedis, uniquePrefix } from './helpers/redis.js'
import { conversationButton, joinRoom, launchBrowser, live, messages, say, signIn } from './helpers/browser.js'

t.test('a Redis restarted empty: the page shows each room it could not rejoin, and joins it again on request', async (t) => {
  const redis = await restartableRedis(t)
  const cluster = await startProcessCluster(t, { redisUrl: redis.url, prefix: uniquePrefix(), sockets: 1, env: { LOG_LEVEL: 'warn' } })
  const browser = await launchBrowser(t)
  const alice = await signIn(browser, cluster.registryUrl, 'alice')
  await joinRoom(alice, 'team')
  await joinRoom(alice, 'ops')
  await say(alice, 'before the restart')
  await messages(alice, 'before the restart').waitFor()

  await redis.restartEmpty()
  // The notice comes only from a resubscription after a reconnect. (Waiting for "Reconnecting" first missed it once
  // under load: the SDK's first wait can be a few ms, and the status moves on to "Connecting".)
  const notice = alice.getByRole('alert').filter({ hasText: 'Could not rejoin #ops' })
  await notice.waitFor()
  await live(alice, 'alice')
  t.match(await notice.textContent(), /Could not rejoin #ops after reconnecting \(FORBIDDEN\)/, 'the open room says it could not be rejoined, with the code')
  t.ok(await alice.getByRole('textbox', { name: 'Message', exact: true }).isDisabled(), 'and cannot be written to')
  await conversationButton(alice, '#team').getByText('could not rejoin (FORBIDDEN)').waitFor()
  t.pass('the other room is still listed, marked as not rejoined')

  await alice.getByRole('button', { name: 'Join again' }).click()
  await notice.waitFor({ state: 'hidden' })
  await say(alice, 'after the restart')
  await messages(alice, 'after the restart').waitFor()
  t.pass('joined again: the room works')
  t.equal(await conversationButton(alice, '#team').getByText('could not rejoin (FORBIDDEN)').count(), 1, '#team is still marked until it is joined again')
})
