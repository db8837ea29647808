/**
 * Chat pages usually live on their own origin (https://chat.example.com),
 * not on the registry's. With ALLOWED_ORIGINS, such a page can call
 * /allocate (CORS, with the preflight a bearer token triggers) and then open
 * the websocket; a page from any other origin can do neither.
 */
import t from 'tap'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { launchBrowser } from './helpers/browser.js'
import { runCli, waitForHttp } from './helpers/processes.js'
import { freePort } from './helpers/redis.js'
import { startRegistry, openStore } from './helpers/stack.js'

/** A page server on its own origin: serves an empty page, so the test's script runs with that origin. */
async function pageOrigin (t: { teardown (fn: () => unknown): void }, host: string): Promise<string> {
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' })
    response.end('<!doctype html><title>another site</title>')
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  t.teardown(async () => { await new Promise((resolve) => server.close(resolve)) })
  return `http://${host}:${port}`
}

t.test('the registry answers CORS only for its allowed origins', async (t) => {
  const handle = await openStore(t, 'memory')
  const allowed = 'https://chat.example.com'
  const { app } = await startRegistry(t, handle, { allowedOrigins: [allowed] })

  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/allocate',
    headers: { origin: allowed, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' }
  })
  t.equal(preflight.statusCode, 204, 'a preflight from an allowed origin is answered')
  t.equal(preflight.headers['access-control-allow-origin'], allowed)
  t.match(String(preflight.headers['access-control-allow-headers']), /authorization/, 'a bearer token may be sent')

  const get = await app.inject({ url: '/allocate?user=alice', headers: { origin: allowed } })
  t.equal(get.headers['access-control-allow-origin'], allowed, 'the answer may be read by the allowed page')
  t.equal(get.headers['access-control-expose-headers'], 'retry-after', 'so may Retry-After on a 503')

  const other = await app.inject({ url: '/allocate?user=alice', headers: { origin: 'https://evil.example' } })
  t.equal(other.headers['access-control-allow-origin'], undefined, 'another origin gets no CORS headers')

  const { app: plain } = await startRegistry(t, handle)
  const none = await plain.inject({ url: '/allocate?user=alice', headers: { origin: allowed } })
  t.equal(none.headers['access-control-allow-origin'], undefined, 'without allowedOrigins: same-origin pages only')

  await t.rejects(startRegistry(t, handle, { allowedOrigins: ['https://chat.example.com/path'] }), /allowedOrigins/, 'an origin with a path is refused at registration')
})

t.test('a page on an allowed origin allocates and chats in a real browser; a page elsewhere cannot', async (t) => {
  const good = await pageOrigin(t, '127.0.0.1')
  const bad = await pageOrigin(t, 'localhost') // another origin: the host differs
  const port = await freePort()
  runCli(t, 'standalone', { PORT: String(port), LOG_LEVEL: 'warn', ALLOWED_ORIGINS: good })
  const registry = `http://127.0.0.1:${port}`
  await waitForHttp(`${registry}/healthz`)
  const browser = await launchBrowser(t)

  const attempt = async (origin: string): Promise<string> => {
    const page = await browser.newPage()
    t.teardown(async () => { await page.close() })
    await page.goto(origin)
    return await page.evaluate(async (registryUrl) => {
      let allocation: { url: string, token: string }
      try {
        // A header that is not CORS-safelisted, as a JWT would be: the browser sends a preflight first.
        const response = await fetch(`${registryUrl}/allocate?user=carol`, { headers: { authorization: 'Bearer not-checked-in-dev-mode' } })
        allocation = await response.json() as { url: string, token: string }
      } catch (err) {
        return `fetch failed: ${(err as Error).name}`
      }
      return await new Promise<string>((resolve) => {
        const ws = new WebSocket(`${allocation.url}?token=${encodeURIComponent(allocation.token)}`)
        ws.onmessage = (event) => { resolve(JSON.parse(String(event.data)).type as string); ws.close() }
        ws.onerror = () => { resolve('websocket refused') }
      })
    }, registry)
  }

  t.equal(await attempt(good), 'welcome', 'the allowed page got an allocation and a welcome over the websocket')
  t.equal(await attempt(bad), 'fetch failed: TypeError', 'the browser keeps /allocate from a page on another origin')
})
