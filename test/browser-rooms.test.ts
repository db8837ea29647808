/**
 * An invite-only room on the chat page, in a real browser (two contexts) on
 * the standalone server: its owner makes it invite-only, bob is refused until
 * she invites him, then she kicks him and the room leaves his page.
 */
import t from 'tap'
import { conversationButton, joinRoom, launchBrowser, messages, say, signIn, standalone } from './helpers/browser.js'

t.test('an invite-only room: refused, invited, joined, kicked', async (t) => {
  const base = await standalone(t)
  const browser = await launchBrowser(t)
  const olga = await signIn(browser, base, 'olga')
  const bob = await signIn(browser, base, 'bob')

  await joinRoom(olga, 'club')
  const inviteOnly = olga.getByRole('checkbox', { name: 'Invite-only' })
  await inviteOnly.check()
  await olga.getByRole('complementary').getByText('olga (owner)').waitFor()
  t.pass('the owner sees the room\'s members and its settings')

  await bob.getByRole('textbox', { name: 'Join or create a room' }).fill('club')
  await bob.getByRole('textbox', { name: 'Join or create a room' }).press('Enter')
  await bob.locator('#error', { hasText: /INVITE_ONLY|invite-only/ }).waitFor()
  t.pass('bob is refused: the room is invite-only')

  await olga.getByRole('textbox', { name: 'Invite someone' }).fill('bob')
  await olga.getByRole('button', { name: 'Invite', exact: true }).click()
  await bob.locator('#error', { hasText: 'olga invited you to #club' }).waitFor()
  t.pass('bob is told he is invited')
  await joinRoom(bob, 'club')
  await say(bob, 'thanks for having me')
  await conversationButton(olga, '#club').click()
  await messages(olga, 'thanks for having me').waitFor()

  await olga.getByRole('button', { name: 'Kick bob' }).click()
  await conversationButton(bob, '#club').waitFor({ state: 'detached' })
  t.pass('kicked: the room leaves bob\'s page')
  await olga.getByRole('button', { name: 'Kick bob' }).waitFor({ state: 'detached' })
  t.pass('and bob leaves the roster')
})
