/**
 * Typing indicators on the chat page, in a real browser (two contexts) on the
 * standalone server: while alice types to bob, his page says so under their
 * conversation; her message ends it. In a room, clearing the input ends it,
 * and a page shows only the typing of the conversation it has open.
 */
import t from 'tap'
import { conversationButton, joinRoom, launchBrowser, messages, onlineButton, say, signIn, standalone } from './helpers/browser.js'

t.test('the page shows who is typing in the open conversation, and stops showing it', async (t) => {
  const base = await standalone(t)
  const browser = await launchBrowser(t)
  const alice = await signIn(browser, base, 'alice')
  const bob = await signIn(browser, base, 'bob')

  await onlineButton(alice, 'bob').click()
  await say(alice, 'hi bob')
  await conversationButton(bob, 'alice').click()
  await messages(bob, 'hi bob').waitFor()
  const typing = bob.locator('#typing')

  await alice.getByRole('textbox', { name: 'Message', exact: true }).fill('are you')
  await typing.filter({ hasText: /^alice is typing…$/ }).waitFor()
  t.pass('bob sees alice typing to him')
  await alice.getByRole('textbox', { name: 'Message', exact: true }).fill('are you there?')
  await alice.getByRole('button', { name: 'Send' }).click()
  await messages(bob, 'are you there?').waitFor()
  await typing.filter({ hasText: /^$/ }).waitFor()
  t.pass('her message ends it')

  await joinRoom(alice, 'team')
  await joinRoom(bob, 'team')
  await alice.getByRole('textbox', { name: 'Message', exact: true }).fill('draft')
  await typing.filter({ hasText: /^alice is typing…$/ }).waitFor()
  t.pass('in the room too')
  await conversationButton(bob, 'alice').click()
  await bob.getByRole('heading', { name: 'alice', exact: true }).waitFor()
  t.equal(await typing.textContent(), '', 'the conversation with alice shows nothing: she types in the room')
  await conversationButton(bob, '#team').click()
  await typing.filter({ hasText: /^alice is typing…$/ }).waitFor()
  await alice.getByRole('textbox', { name: 'Message', exact: true }).fill('')
  await typing.filter({ hasText: /^$/ }).waitFor()
  t.pass('clearing the input ends it')
})
