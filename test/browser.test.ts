/**
 * The chat page in a real browser (Debian's chromium, driven by
 * playwright-core) on the standalone server: alice and bob see each other
 * online, exchange direct messages (with unread counts), create a room and
 * chat in it, and after a reload find the history again, older pages
 * loading as bob scrolls up. UPDATE_SCREENSHOTS=1 also rewrites the
 * screenshots under docs/screenshots.
 */
import t from 'tap'
import type { Page } from 'playwright-core'
import { runCli, waitForHttp } from './helpers/processes.js'
import { freePort } from './helpers/redis.js'
import { sdkClient } from './helpers/sdk.js'
import { conversationButton, focusedId, joinRoom, launchBrowser, live, membersOf, messages, onlineButton, say, screenshot, signIn, VIEWPORT } from './helpers/browser.js'

t.test('two people chat on the standalone server in a real browser', async (t) => {
  const port = await freePort()
  // Carol (an SDK client) publishes a burst; people's limits are tested in security.test.ts.
  runCli(t, 'standalone', { PORT: String(port), LOG_LEVEL: 'warn', FRAME_RATE: '1000', FRAME_BURST: '1000' })
  const base = `http://127.0.0.1:${port}`
  await waitForHttp(`${base}/healthz`)
  const browser = await launchBrowser(t)

  const failed: string[] = []
  const alice = await signIn(browser, base, 'alice', (page) => {
    page.on('response', (response) => { if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`) })
  })
  const bob = await signIn(browser, base, 'bob')
  await onlineButton(alice, 'bob').waitFor()
  t.same(failed, [], 'loading the page asks for nothing that is not there')
  const icon = await alice.locator('link[rel="icon"]').getAttribute('href')
  t.ok(icon !== null && await alice.evaluate(async (href) => (await fetch(href)).ok, icon), 'it has an icon (browsers that look for /favicon.ico log a 404 without one)')
  await onlineButton(bob, 'alice').waitFor()
  t.pass('each sees the other online')

  // A direct conversation, started from the online list.
  await onlineButton(alice, 'bob').click()
  await alice.getByRole('heading', { name: 'bob', exact: true }).waitFor()
  t.equal(await focusedId(alice), 'text', 'opening a conversation puts the cursor in the message box')
  await say(alice, 'hello bob, from a browser')
  await bob.getByRole('button', { name: 'alice 1 unread' }).waitFor()
  t.pass('bob sees one unread message from alice')
  await conversationButton(bob, 'alice').click()
  await messages(bob, 'hello bob, from a browser').waitFor()
  t.equal(await bob.locator('#dms .badge').count(), 0, 'reading the conversation clears its unread count')
  await say(bob, 'hi alice')
  await messages(alice, 'hi alice').waitFor()
  t.equal(await messages(alice).count(), 2, 'alice sees both messages once')

  // A room: alice creates it, bob joins, both see the members and chat.
  await joinRoom(alice, 'team')
  await joinRoom(bob, 'team')
  for (const page of [alice, bob]) {
    await membersOf(page).filter({ hasText: /^alice/ }).waitFor()
    await membersOf(page).filter({ hasText: /^bob/ }).waitFor()
  }
  t.pass('both are listed as members of #team')
  await say(alice, 'hello team')
  await messages(bob, 'hello team').waitFor()
  await say(bob, 'hi all, the deploy is green')
  await messages(alice, 'hi all, the deploy is green').waitFor()
  t.equal(await messages(alice).count(), 2, 'the room shows its two messages once')
  t.equal(await conversationButton(alice, 'bob').locator('.badge').count(), 0, 'nothing unread for alice')
  await conversationButton(bob, 'alice').click()
  await say(bob, 'lunch at noon?')
  await alice.getByRole('button', { name: 'bob 1 unread' }).waitFor()
  t.pass('a direct message to alice while she is in the room counts as unread')
  await screenshot(alice, 'chat.png')
  await alice.setViewportSize({ width: 390, height: 844 })
  const nav = alice.getByRole('navigation', { name: 'Conversations' })
  const main = alice.locator('main.conversation')
  await screenshot(alice, 'chat-narrow.png')
  t.ok(await main.isVisible() && !(await nav.isVisible()) && ((await main.boundingBox())?.width ?? 0) > 300,
    'on a phone-sized screen the open conversation takes the whole width, without the lists')
  await alice.getByRole('button', { name: 'Back to conversations' }).click()
  await nav.waitFor()
  t.notOk(await main.isVisible(), 'back: the lists, without the conversation')
  t.equal(await alice.evaluate('document.activeElement?.dataset.conversation'), 'room:team', 'the keyboard focus is on the conversation left')
  await conversationButton(bob, '#team').click()
  await say(bob, 'while alice looks at the lists')
  await alice.getByRole('button', { name: '#team 1 unread' }).waitFor()
  t.pass('a message in the open conversation, hidden behind the lists, counts as unread')
  await conversationButton(alice, 'bob').click()
  await alice.getByRole('heading', { name: 'bob', exact: true }).waitFor()
  t.ok(await main.isVisible() && !(await nav.isVisible()), 'a conversation picked from them takes their place')
  await alice.setViewportSize(VIEWPORT)
  t.ok(await nav.isVisible() && await main.isVisible(), 'on a wide screen both show')
  t.notOk(await alice.getByRole('button', { name: 'Back to conversations' }).isVisible(), 'and there is no back button')
  await conversationButton(alice, '#team').click()

  // Carol fills the room with more than a page of history, then bob reloads.
  const carol = await sdkClient(t, base, 'carol')
  await carol.client.join('team')
  await membersOf(alice).filter({ hasText: /^carol/ }).waitFor()
  t.pass('a member arriving is shown live')
  for (let n = 1; n <= 40; n++) await carol.client.publish('team', { text: `note ${n}` })
  await messages(alice, 'note 40').waitFor()

  await bob.reload()
  await live(bob, 'bob')
  t.pass('a reload signs in again with the same name')
  await conversationButton(bob, '#team').click()
  await messages(bob, 'note 40').waitFor()
  t.equal(await messages(bob).count(), 30, 'opening the room loads its newest page')
  await bob.locator('#scroller').evaluate((e) => { e.scrollTop = 0 })
  await messages(bob, 'hello team').waitFor()
  await bob.getByText('This is the beginning of the conversation.').waitFor()
  const texts = await bob.locator('#messages li .text').allTextContents()
  t.same(texts, ['hello team', 'hi all, the deploy is green', 'while alice looks at the lists', ...Array.from({ length: 40 }, (_, i) => `note ${i + 1}`)],
    'scrolling up loads the older page: every message once, in order')
  t.same(await bob.locator('#messages li.grouped .text').allTextContents(),
    ['while alice looks at the lists', ...Array.from({ length: 39 }, (_, i) => `note ${i + 2}`)],
    'a sender\'s messages in a row show the name once, carol\'s notes too (the first of the newest page joined her group when the page before it came)')
  const hidden = await bob.locator('#messages li.grouped .meta').first().boundingBox()
  const shown = await bob.locator('#messages li:not(.grouped) .meta').first().boundingBox()
  t.ok(hidden !== null && hidden.width <= 1 && hidden.height <= 1 && shown !== null && shown.width > 10,
    'a grouped message takes no room for its sender and time (kept for screen readers)')
  await conversationButton(bob, 'alice').click()
  t.same(await bob.locator('#messages li .text').allTextContents(), ['hello bob, from a browser', 'hi alice', 'lunch at noon?'], 'the direct conversation is back too')

  // Leaving the room: it goes from bob's list (on his other device too), and bob from the room's members on alice's page.
  const bobPhone = await signIn(browser, base, 'bob')
  await conversationButton(bobPhone, '#team').waitFor()
  await joinRoom(bob, 'ops')
  await conversationButton(bobPhone, '#ops').waitFor()
  t.pass('a room bob joins on one device appears on the other at once')
  await conversationButton(bob, '#team').click()
  await bob.getByRole('button', { name: 'Leave room' }).click()
  await conversationButton(bob, '#team').waitFor({ state: 'detached' })
  await conversationButton(bobPhone, '#team').waitFor({ state: 'detached' })
  t.pass('bob left #team, and the room went from his other device\'s page as well')
  await membersOf(alice).filter({ hasText: /^bob/ }).waitFor({ state: 'detached' })
  t.pass('alice sees him go')

  carol.client.close()
  await bobPhone.close()
  await bob.close()
  await onlineButton(alice, 'bob').waitFor({ state: 'detached' })
  t.pass('bob closing his page takes him off alice\'s online list')
})

t.test('keyboard only: sign in, join a room and send with Enter', async (t) => {
  const port = await freePort()
  runCli(t, 'standalone', { PORT: String(port), LOG_LEVEL: 'warn' })
  const base = `http://127.0.0.1:${port}`
  await waitForHttp(`${base}/healthz`)
  const browser = await launchBrowser(t)
  const page: Page = await (await browser.newContext()).newPage()
  await page.goto(base)
  await page.keyboard.type('dora') // the name field has the focus
  await page.keyboard.press('Enter')
  await live(page, 'dora')
  await page.getByRole('textbox', { name: 'Join or create a room' }).focus()
  await page.keyboard.type('kb')
  await page.keyboard.press('Enter')
  await page.getByRole('heading', { name: '#kb', exact: true }).waitFor()
  t.equal(await focusedId(page), 'text', 'the message box has the focus')
  await page.keyboard.type('typed, never clicked')
  await page.keyboard.press('Enter')
  await messages(page, 'typed, never clicked').waitFor()
  t.pass('sent with the keyboard alone')
})
