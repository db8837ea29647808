/**
 * The chat page in a real browser (Debian's chromium, driven by
 * playwright-core): two people sign in on the standalone server, see each
 * other online, exchange direct messages, and find them again after a reload.
 */
import t from 'tap'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'
import { runCli, waitForHttp } from './helpers/processes.js'
import { freePort } from './helpers/redis.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

async function signIn (browser: Browser, base: string, name: string): Promise<Page> {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(base)
  await page.getByLabel('Your name').fill(name)
  await page.getByRole('button', { name: 'Chat' }).click()
  await page.getByRole('status').filter({ hasText: `live as ${name}` }).waitFor()
  await page.getByRole('form', { name: 'Sign in' }).waitFor({ state: 'hidden' })
  return page
}

async function say (page: Page, to: string, text: string): Promise<void> {
  await page.getByRole('textbox', { name: 'To', exact: true }).fill(to)
  await page.getByRole('textbox', { name: 'Message', exact: true }).fill(text)
  await page.getByRole('textbox', { name: 'Message', exact: true }).press('Enter')
}

t.test('two people chat on the standalone server in a real browser', async (t) => {
  const port = await freePort()
  runCli(t, 'standalone', { PORT: String(port), LOG_LEVEL: 'warn' })
  const base = `http://127.0.0.1:${port}`
  await waitForHttp(`${base}/healthz`)

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(async () => { await browser.close() })

  const alice = await signIn(browser, base, 'alice')
  const bob = await signIn(browser, base, 'bob')
  const online = (page: Page, name: string) => page.getByRole('navigation', { name: 'People' }).locator('#online button', { hasText: name })
  await online(alice, 'bob').waitFor()
  await online(bob, 'alice').waitFor()
  t.pass('each sees the other online')

  await say(alice, 'bob', 'hello bob, from a browser')
  await bob.locator('#messages li', { hasText: 'hello bob, from a browser' }).waitFor()
  t.pass('bob received the direct message')
  await say(bob, 'alice', 'hi alice')
  await alice.locator('#messages li', { hasText: 'hi alice' }).waitFor()
  t.equal(await alice.locator('#messages li').count(), 2, 'alice sees both messages once')

  await bob.reload()
  await bob.getByLabel('Your name').fill('bob')
  await bob.getByRole('button', { name: 'Chat' }).click()
  await bob.locator('#messages li', { hasText: 'hello bob, from a browser' }).waitFor()
  await bob.locator('#messages li', { hasText: 'hi alice' }).waitFor()
  t.equal(await bob.locator('#messages li').count(), 2, 'after a reload, history shows the conversation once')

  await bob.close()
  await online(alice, 'bob').waitFor({ state: 'detached' })
  t.pass('bob leaving is shown to alice')
})
