/**
 * Shutting down while Redis does not answer: a socket server (its leave of
 * the fleet, its store, its connections) closes within its deadlines instead
 * of waiting for replies that never come.
 */
import t from 'tap'
import { startRedisServer } from './helpers/redis.js'
import { openStore, startSocket } from './helpers/stack.js'

t.test('a socket server whose Redis is frozen (SIGSTOP) still shuts down', async (t) => {
  const redis = await startRedisServer()
  t.teardown(async () => { await redis.stop() })
  const handle = await openStore(t, 'redis', {}, redis.url)
  const app = await startSocket(t, handle, 's1')
  const pid = redis.process.pid ?? 0
  process.kill(pid, 'SIGSTOP')
  t.teardown(() => { process.kill(pid, 'SIGCONT') })
  await app.close()
  t.pass('closed: leaving the fleet, unsubscribing and QUIT gave up instead of waiting for ever')
})
