/**
 * Edit, delete and reply on the chat page, in a real browser (two contexts)
 * on the standalone server: alice edits her message and bob's page shows the
 * new text, bob answers it, alice deletes it and both pages (and bob's page
 * loaded afresh, from history) show that it was deleted, not what it said.
 * And blocking: the Block button refuses the other's messages until Unblock.
 */
import t from 'tap'
import { conversationButton, launchBrowser, live, messages, onlineButton, say, signIn, standalone } from './helpers/browser.js'
import type { Page } from 'playwright-core'

/** A message's own button (Reply, Edit, Delete) on the open conversation's message saying `text`. */
const action = (page: Page, text: string, name: string): ReturnType<Page['locator']> => messages(page, text).getByRole('button', { name })

t.test('edit, reply and delete on the page, seen from the other side', async (t) => {
  const base = await standalone(t)
  const browser = await launchBrowser(t)
  const alice = await signIn(browser, base, 'alice')
  const bob = await signIn(browser, base, 'bob')

  await onlineButton(alice, 'bob').click()
  await say(alice, 'helo bob')
  await conversationButton(bob, 'alice').click()
  await messages(bob, 'helo bob').waitFor()

  await action(alice, 'helo bob', 'Edit this message').click()
  t.equal(await alice.getByRole('textbox', { name: 'Message', exact: true }).inputValue(), 'helo bob', 'editing puts the text in the input')
  await say(alice, 'hello bob')
  await messages(bob, 'hello bob').locator('.edited').waitFor()
  t.equal(await messages(bob, 'helo bob').count(), 0, 'bob\'s page shows the new text, marked edited')
  t.equal(await messages(alice, 'hello bob').count(), 1, 'so does hers, in place (no new message)')

  await action(bob, 'hello bob', 'Reply to this message').click()
  await say(bob, 'hi alice')
  await messages(alice, 'hi alice').locator('.quote', { hasText: 'alice: hello bob' }).waitFor()
  t.pass('the answer quotes the message it answers')

  await action(alice, 'hello bob', 'Delete this message').click()
  await messages(bob, 'This message was deleted.').waitFor()
  t.equal(await bob.locator('#messages').getByText('hello bob').count(), 0, 'its text is gone from bob\'s page')
  t.equal(await action(bob, 'This message was deleted.', 'Reply to this message').count(), 0, 'a deleted message cannot be answered')

  await bob.reload()
  await live(bob, 'bob')
  await conversationButton(bob, 'alice').click()
  await messages(bob, 'hi alice').waitFor()
  await messages(bob, 'This message was deleted.').waitFor()
  t.equal(await bob.locator('#messages').getByText('hello bob').count(), 0, 'a page loaded afresh gets it deleted from history')
  t.equal(await bob.locator('#messages').getByText('helo bob').count(), 0, 'and not its first version either')
})

t.test('blocking on the page: the blocked user\'s messages are refused, with a reason; unblocking lets them through', async (t) => {
  const base = await standalone(t)
  const browser = await launchBrowser(t)
  const alice = await signIn(browser, base, 'alice')
  const troll = await signIn(browser, base, 'troll')

  await onlineButton(troll, 'alice').click()
  await say(troll, 'hi')
  await conversationButton(alice, 'troll').click()
  await messages(alice, 'hi').waitFor()
  await alice.getByRole('button', { name: 'Block', exact: true }).click()
  await alice.getByRole('button', { name: 'Unblock', exact: true }).waitFor()
  t.equal(await alice.getByRole('textbox', { name: 'Message', exact: true }).isDisabled(), true, 'alice cannot write to troll while she blocks him')

  await say(troll, 'let me in')
  await troll.locator('#error', { hasText: /FORBIDDEN: .*blocked/ }).waitFor()
  t.pass('troll is told his message was refused')
  await alice.getByRole('button', { name: 'Unblock', exact: true }).click()
  await alice.getByRole('button', { name: 'Block', exact: true }).waitFor()
  await say(troll, 'sorry')
  await messages(alice, 'sorry').waitFor()
  t.equal(await messages(alice, 'let me in').count(), 0, 'what was refused never arrives')
})
