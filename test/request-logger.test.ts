/**
 * Request loggers made on first use (plugins/request-logger.ts): the same lines
 * as Fastify's own child loggers, and no child at all for a request that writes
 * nothing at an enabled level.
 */
import { Writable } from 'node:stream'
import t from 'tap'
import Fastify from 'fastify'
import { pino } from 'pino'
import type { Logger } from 'pino'
import { lazyChildLogger } from '../plugins/request-logger.js'
import { serverOptions } from '../servers/app.js'

function capture (): { stream: Writable, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  return { stream, lines }
}

/** A pino logger that counts the children made of it. */
function counted (level: string): { parent: Logger, lines: Array<Record<string, unknown>>, made: () => number } {
  const { stream, lines } = capture()
  const parent = pino({ level }, stream)
  let made = 0
  // pino's children inherit from their parent, this wrapper included: it must call on `this`, not on `parent`.
  const child = parent.child
  parent.child = function (this: Logger, ...args: Parameters<Logger['child']>) { made++; return child.apply(this, args) } as Logger['child']
  return { parent, lines, made: () => made }
}

t.test('no child is made until a line is written at an enabled level', async (t) => {
  const { parent, lines, made } = counted('warn')
  const log = lazyChildLogger(parent, { reqId: 'req-1' }, {})
  log.info('not written')
  log.debug({ some: 'object' }, 'not written either')
  t.equal(made(), 0, 'lines below the level cost no child')
  t.equal(log.level, 'warn', 'the level is the parent\'s')
  log.warn({ user: 'alice' }, 'written')
  log.error('also written')
  t.equal(made(), 1, 'one child, made on the first line written')
  t.same(lines.map((l) => [l.msg, l.reqId, l.user]), [['written', 'req-1', 'alice'], ['also written', 'req-1', undefined]], 'lines carry the bindings')
})

t.test('a per-route level is honoured, and child() and setting the level work', async (t) => {
  const { parent, lines, made } = counted('warn')
  const log = lazyChildLogger(parent, { reqId: 'req-2' }, { level: 'debug' })
  t.equal(log.level, 'debug')
  log.debug('debug line')
  t.equal(made(), 1)
  t.same(lines.map((l) => l.msg), ['debug line'])
  const quiet = lazyChildLogger(parent, { reqId: 'req-3' }, {})
  quiet.level = 'trace'
  quiet.trace('now written')
  t.equal(lines.at(-1)?.msg, 'now written', 'a level set on the request logger applies to it')
  const nested = lazyChildLogger(parent, { reqId: 'req-4' }, {}).child({ channel: 'room:x' })
  nested.warn('nested')
  t.same([lines.at(-1)?.reqId, lines.at(-1)?.channel], ['req-4', 'room:x'], 'a child of the request logger keeps both bindings')
  quiet.silent('never')
  quiet.fatal('fatal line')
  t.equal(lines.at(-1)?.msg, 'fatal line')
})

t.test('the servers use it, and request lines keep their request id and redaction', async (t) => {
  const options = serverOptions('warn', 'registry')
  t.equal(options.childLoggerFactory, lazyChildLogger)
  const { stream, lines } = capture()
  const app = Fastify({ ...options, logger: { ...(options.logger as object), stream } })
  t.teardown(async () => { await app.close() })
  app.get('/quiet', async () => ({ ok: true }))
  app.get('/loud', async (request) => {
    request.log.warn({ token: 'secret-token' }, 'something to say')
    return { ok: true }
  })
  t.equal((await app.inject('/quiet')).statusCode, 200)
  t.equal(lines.length, 0, 'a request that logs nothing at warn writes nothing')
  t.equal((await app.inject('/loud')).statusCode, 200)
  t.equal(lines.length, 1)
  t.equal(lines[0]?.msg, 'something to say')
  t.equal(lines[0]?.role, 'registry', 'the base bindings are kept')
  t.match(lines[0]?.reqId, /\S/, 'the request id is bound')
  t.equal(lines[0]?.token, '[Redacted]', 'redaction still applies')
})
