/**
 * The chat page in a real browser: Debian's chromium driven by
 * playwright-core (no browser download), one context per person, and the
 * few steps every browser test takes on the page.
 */
import { chromium } from 'playwright-core'
import type { Browser, Locator, Page } from 'playwright-core'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runCli, waitForHttp } from './processes.js'
import { freePort } from './redis.js'

interface Teardown { teardown (fn: () => unknown): void }

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** a fixed viewport, so screenshots come out the same size every time */
export const VIEWPORT = { width: 1200, height: 760 }

/** matches exactly `text` */
function exactly (text: string): RegExp {
  return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)
}

/** `switchboard standalone` on a free port, stopped in teardown; its base URL once it answers. */
export async function standalone (t: Teardown): Promise<string> {
  const port = await freePort()
  runCli(t, 'standalone', { PORT: String(port), LOG_LEVEL: 'warn' })
  const base = `http://127.0.0.1:${port}`
  await waitForHttp(`${base}/healthz`)
  return base
}

export async function launchBrowser (t: Teardown): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(async () => { await browser.close() })
  return browser
}

/** A new browser context (its own session storage) signed in as `name`, once the page says it is live. `watch` sees the page before it loads. */
export async function signIn (browser: Browser, base: string, name: string, watch: (page: Page) => void = () => {}): Promise<Page> {
  const context = await browser.newContext({ viewport: VIEWPORT })
  const page = await context.newPage()
  watch(page)
  await page.goto(base)
  await page.getByLabel('Your name').fill(name)
  await page.getByRole('button', { name: 'Chat' }).click()
  await live(page, name)
  return page
}

export async function live (page: Page, name: string): Promise<void> {
  await page.getByRole('status').filter({ hasText: `Live as ${name}` }).waitFor()
}

/** The socket server the page is connected to, as its connection status shows it. */
export async function serverOf (page: Page): Promise<string> {
  return await page.locator('#connection').getAttribute('data-server') ?? ''
}

export function onlineButton (page: Page, name: string): Locator {
  return page.getByRole('navigation', { name: 'Conversations' }).locator('#online button', { hasText: name })
}

/** A conversation in the sidebar: `#room` or a person's name. */
export function conversationButton (page: Page, label: string): Locator {
  return page.locator('#rooms button, #dms button').filter({ has: page.locator('.name', { hasText: exactly(label) }) })
}

export async function joinRoom (page: Page, room: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Join or create a room' }).fill(room)
  await page.getByRole('textbox', { name: 'Join or create a room' }).press('Enter')
  await page.getByRole('heading', { name: `#${room}`, exact: true }).waitFor()
}

/** Types a message into the open conversation and sends it with Enter. */
export async function say (page: Page, text: string): Promise<void> {
  const box = page.getByRole('textbox', { name: 'Message', exact: true })
  await box.fill(text)
  await box.press('Enter')
}

/** The messages of the open conversation whose text is exactly `text`. */
export function messages (page: Page, text?: string): Locator {
  const all = page.locator('#messages li')
  return text === undefined ? all : all.filter({ has: page.locator('.text', { hasText: exactly(text) }) })
}

/** The id of the element that has the keyboard focus. */
export async function focusedId (page: Page): Promise<string> {
  return String(await page.evaluate('document.activeElement?.id ?? ""'))
}

export function membersOf (page: Page): Locator {
  return page.locator('#members li')
}

/** Writes a screenshot under docs/ only when UPDATE_SCREENSHOTS=1, so plain test runs leave committed files alone. */
export async function screenshot (page: Page, name: string): Promise<void> {
  if (process.env.UPDATE_SCREENSHOTS !== '1') return
  const path = fileURLToPath(new URL(`../../docs/screenshots/${name}`, import.meta.url))
  mkdirSync(dirname(path), { recursive: true })
  await page.screenshot({ path, animations: 'disabled', caret: 'hide' })
}
