/**
 * Unread badges across devices, in a real browser on the standalone server:
 * alice has the page open twice (two contexts, like a phone and a laptop).
 * A message from bob shows a badge on both; reading it on one clears it on
 * the other at once; a page loaded afresh gets its badges from the server.
 */
import t from 'tap'
import { conversationButton, joinRoom, launchBrowser, live, messages, onlineButton, say, signIn, standalone } from './helpers/browser.js'

t.test('reading on one page clears the badge on the other; a reloaded page gets its badges from the server', async (t) => {
  const base = await standalone(t)
  const browser = await launchBrowser(t)
  const phone = await signIn(browser, base, 'alice')
  const laptop = await signIn(browser, base, 'alice')
  const bob = await signIn(browser, base, 'bob')
  const badge = (page: typeof phone): ReturnType<typeof conversationButton> => conversationButton(page, 'bob').locator('.badge')

  await onlineButton(bob, 'alice').click()
  await say(bob, 'hello alice')
  await phone.getByRole('button', { name: 'bob 1 unread' }).waitFor()
  await laptop.getByRole('button', { name: 'bob 1 unread' }).waitFor()
  t.pass('both of alice\'s pages show the message as unread')

  await conversationButton(phone, 'bob').click()
  await messages(phone, 'hello alice').waitFor()
  await badge(laptop).waitFor({ state: 'detached' })
  t.pass('reading it on the phone clears the badge on the laptop')

  // The phone looks at a room: what bob says next is unread on both pages. (A page opens its first conversation by
  // name when it loads, and that one is read: the room is first.)
  await joinRoom(phone, 'abc')
  await say(bob, 'one')
  await say(bob, 'two')
  await phone.getByRole('button', { name: 'bob 2 unread' }).waitFor()
  await laptop.getByRole('button', { name: 'bob 2 unread' }).waitFor()
  await laptop.reload()
  await live(laptop, 'alice')
  await laptop.getByRole('button', { name: 'bob 2 unread' }).waitFor()
  t.pass('a page loaded afresh shows the count the server keeps')
  await laptop.getByRole('heading', { name: '#abc', exact: true }).waitFor()
  t.pass('and opened the room joined on the other page')

  await conversationButton(laptop, 'bob').click()
  await messages(laptop, 'two').waitFor()
  await badge(phone).waitFor({ state: 'detached' })
  t.pass('and reading there clears the phone\'s')
})
