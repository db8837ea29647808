/**
 * The chat page, on the client SDK: sign in with a name (dev auth), see who
 * is online, talk one-to-one and in rooms, page back through history. The
 * SDK reconnects, recovers what was missed and resends; the page files each
 * message once by its offset and shows where the connection stands.
 */
import { createClient } from '../../sdk/index.js'
import type { Message, PresenceEvent, RoomChange, SwitchboardClient } from '../../sdk/index.js'
import { ChatModel, LOBBY, PAGE } from './model.js'
import type { Conversation } from './model.js'
import { ConnectionStatus } from './status.js'
import { ChatView, byId } from './view.js'

/** the name is kept for this tab, so a reload signs in again */
const NAME_KEY = 'switchboard.name'
/** conversations listed when the page starts and after each reconnect (the most recent ones) */
const CONVERSATIONS = 50
/** how close to the top (px) scrolling loads earlier messages */
const LOAD_OLDER_PX = 40
/** a message the server acknowledged stops showing as unsent when it arrives, or after this long */
const UNSENT_GRACE_MS = 5000
/** the page's narrow layout (style.css): the lists or the open conversation, one at a time */
const narrow = matchMedia('(max-width: 48rem)')

/** Whether the user can see the open conversation: the tab is shown, and on a narrow screen the conversation is. */
function reading (): boolean {
  return !document.hidden && (!narrow.matches || byId('chat').dataset.view === 'conversation')
}

/** On a narrow screen, the lists instead of the conversation. */
function showLists (): void {
  byId('chat').dataset.view = 'list'
}

const status = new ConnectionStatus(byId('connection'))

interface ComposeMode {
  readonly kind: 'edit' | 'reply'
  readonly offset: string
}

function showError (err: unknown): void {
  const { code, message } = err as { code?: string, message?: string }
  byId('error').textContent = code === undefined ? String(message ?? err) : `${code}: ${message ?? ''}`
}

class ChatPage {
  readonly #model: ChatModel
  readonly #view: ChatView
  readonly #client: SwitchboardClient
  readonly #loading = new Set<string>()
  /** the next message edits or answers one */
  #mode: ComposeMode | undefined
  #unsent = 0
  #started = false

  constructor (me: string) {
    this.#model = new ChatModel(me)
    this.#view = new ChatView(this.#model)
    this.#client = createClient({ registryUrl: location.origin, auth: { user: me } })
  }

  async start (): Promise<void> {
    const client = this.#client
    status.show('connecting')
    client.on('state', (state, detail) => {
      status.show(state, { ...detail, user: this.#model.me, ...(client.server === undefined ? {} : { server: client.server }) })
      if (state === 'connected') byId('error').textContent = ''
      // Offline, this page cannot know who is online (presence events are not replayed): it shows no one until it is back.
      if (state === 'reconnecting' || state === 'closed') this.#forgetPresence()
      // Presence events are not replayed: after a reconnect, ask who is there now; and what is unread where.
      if (state === 'connected' && this.#started) {
        this.#refreshPresence().catch(showError)
        this.#listConversations().then(() => { this.#view.lists() }, showError)
      }
    })
    client.on('message', (message) => { this.#file([message], true) })
    // Edited or deleted (here, elsewhere, or while this page was away): the message shown changes in place.
    client.on('amend', (amendment) => {
      const changed = this.#model.amend(amendment)
      if (changed === undefined || changed.conversation.id !== this.#model.active) return
      this.#view.replace(changed.item)
      // The answers to it quote it: they change too.
      for (const answer of changed.conversation.messages) if (answer.replyTo === changed.item.offset) this.#view.replace(answer)
    })
    client.on('presence', (event) => { this.#onPresence(event) })
    // The server healed a gap in its delivery and the presence events of the gap were lost: who is there now.
    client.on('presenceSnapshot', ({ channel, users }) => {
      const room = channel.slice('room:'.length)
      this.#model.online.set(room, new Set(users))
      if (room === LOBBY) this.#view.online()
      else this.#view.members()
    })
    client.on('typing', ({ channel }) => { if (this.#active()?.channel === channel) this.#showTyping() })
    // Read here or on another device: every open page shows the same badge.
    client.on('read', ({ channel, offset, unread }) => {
      const conversation = this.#model.byChannel(channel)
      if (conversation === undefined) return
      this.#model.readUpTo(conversation, offset, unread)
      this.#view.lists()
    })
    client.on('reset', (channel) => { this.#reloadNewest(channel).catch(showError) })
    // Joined or left on another device (or tab): the room comes to, or goes from, this page too.
    client.on('joined', (room) => {
      if (room === LOBBY) return
      this.#model.room(room)
      this.#view.lists()
      this.#refreshPresence([room]).catch(showError)
    })
    client.on('left', (room) => { this.#forgetRoom(`room:${room}`, room) })
    // A room the client could not resubscribe (e.g. its membership was lost): shown as such, not dropped.
    client.on('subscribeFailed', ({ room, code }) => {
      if (room === undefined) return
      // The lobby is everyone's (it lists who is online): join it again.
      if (room === LOBBY) {
        client.join(LOBBY).then(async () => { await this.#refreshPresence([LOBBY]) }).catch(showError)
        return
      }
      this.#model.room(room)
      this.#model.refused.set(room, code)
      this.#view.lists()
      if (this.#model.active === `room:${room}`) this.#view.conversation()
    })
    // A change in the open room (by its owner or a moderator): its roster and settings again.
    client.on('moderated', ({ channel }) => {
      if (this.#active()?.channel === channel) this.#refreshRoom().catch(showError)
    })
    client.on('invited', ({ room, by }) => { byId('error').textContent = `${by} invited you to #${room}: join it with "Join or create a room".` })
    // Blocked or unblocked here or on another device.
    client.on('blocked', ({ user, blocked }) => {
      if (blocked) this.#model.blocked.add(user)
      else this.#model.blocked.delete(user)
      if (this.#active()?.kind === 'dm') this.#view.conversation()
    })
    client.on('error', showError)
    await client.ready
    for (const user of await client.blocks()) this.#model.blocked.add(user)
    if (!client.rooms.includes(LOBBY)) await client.join(LOBBY)
    for (const room of client.rooms) if (room !== LOBBY) this.#model.room(room)
    await Promise.all([this.#listConversations(), this.#refreshPresence()])
    this.#started = true
    this.#view.lists()
    const first = [...this.#model.conversations.values()].sort((a, b) => a.name.localeCompare(b.name))[0]
    if (first !== undefined) this.open(first.id, false)
    else this.#view.conversation()
  }

  close (): void { this.#client.close() }

  open (id: string, focus = true): void {
    const conversation = this.#model.conversations.get(id)
    if (conversation === undefined) return
    // Whatever was being typed stays in the input, but not as typing in the conversation left behind.
    if (this.#model.active !== undefined && this.#model.active !== id) {
      this.#tellTyping(this.#active(), false)
      this.compose(undefined)
    }
    this.#model.active = id
    this.#showTyping()
    if (conversation.kind === 'room') this.#refreshRoom().catch(showError)
    conversation.unread = 0
    this.#view.conversation()
    this.#view.lists()
    if (!conversation.opened) this.loadOlder().catch(showError)
    if (focus) {
      // Picked by the user: on a narrow screen the conversation takes the place of the lists.
      byId('chat').dataset.view = 'conversation'
      byId('text').focus()
      this.readIfVisible()
    }
  }

  openDm (user: string): void {
    this.open(this.#model.dm(user).id)
  }

  async joinRoom (room: string): Promise<void> {
    await this.#client.join(room)
    this.#model.refused.delete(room)
    const conversation = this.#model.room(room)
    await this.#refreshPresence([room])
    this.open(conversation.id)
  }

  /** The room of the open conversation, if it is one. */
  get activeRoom (): string | undefined {
    const conversation = this.#active()
    return conversation?.kind === 'room' ? conversation.name : undefined
  }

  /** The open room's settings and your role; its members too when you may manage them. */
  async #refreshRoom (): Promise<void> {
    const conversation = this.#active()
    if (conversation?.kind !== 'room') return
    const details = await this.#client.room(conversation.name)
    const manages = details.role === 'owner' || details.role === 'moderator'
    const members = manages ? (await this.#client.members(conversation.name, { limit: 100 })).members : []
    if (this.#active() !== conversation) return
    this.#model.roomDetails = { room: conversation.name, details, members }
    this.#view.manage()
  }

  /** A change in the open room: invite, kick, or who may join. */
  async moderate (change: RoomChange): Promise<void> {
    const room = this.activeRoom
    if (room === undefined) return
    await this.#client.moderate(room, change)
    await this.#refreshRoom()
  }

  /** Blocks the person of the open direct conversation, or unblocks them. */
  async toggleBlock (): Promise<void> {
    const conversation = this.#active()
    if (conversation?.kind !== 'dm') return
    const blocked = this.#model.blocked.has(conversation.name)
    if (blocked) await this.#client.unblock(conversation.name)
    else await this.#client.block(conversation.name)
    if (blocked) this.#model.blocked.delete(conversation.name)
    else this.#model.blocked.add(conversation.name)
    this.#view.conversation()
  }

  async leaveActiveRoom (): Promise<void> {
    const conversation = this.#active()
    if (conversation?.kind !== 'room') return
    await this.#client.leave(conversation.name)
    this.#forgetRoom(conversation.id, conversation.name)
    showLists() // on a narrow screen, where the room's conversation was
    byId('room-name').focus()
  }

  #forgetRoom (id: string, room: string): void {
    this.#model.forget(id)
    this.#model.refused.delete(room)
    this.#model.online.delete(room)
    this.#view.conversation()
    this.#view.lists()
    this.#showTyping()
  }

  /** What the next message does instead of being a new one: edit one of the user's, or answer one. */
  compose (mode: ComposeMode | undefined): void {
    this.#mode = mode
    const input = byId<HTMLInputElement>('text')
    byId('compose-mode').hidden = mode === undefined
    if (mode === undefined) return
    const message = this.#active()?.messages.find((m) => m.offset === mode.offset)
    byId('compose-mode-text').textContent = mode.kind === 'edit' ? 'Editing your message' : `Replying to ${message?.from ?? ''}: ${message?.text ?? ''}`
    if (mode.kind === 'edit') input.value = message?.text ?? ''
    input.focus()
  }

  /** Deletes one of the user's messages of the open conversation. */
  async remove (offset: string): Promise<void> {
    const conversation = this.#active()
    if (conversation !== undefined) await this.#client.delete(conversation.channel, offset)
  }

  async say (text: string): Promise<void> {
    const conversation = this.#active()
    if (conversation === undefined) return
    const mode = this.#mode
    this.compose(undefined)
    if (mode?.kind === 'edit') {
      await this.#client.edit(conversation.channel, mode.offset, { text })
      return
    }
    const options = mode?.kind === 'reply' ? { replyTo: mode.offset } : {}
    this.#outbox(+1)
    // Shown greyed while the server does not have it (the SDK queues it while offline), until it comes back on its channel.
    const unsent: { readonly text: string, offset?: string } = { text }
    conversation.unsent.push(unsent)
    if (this.#model.active === conversation.id) this.#view.unsent()
    let offset: string
    try {
      offset = (conversation.kind === 'room'
        ? await this.#client.publish(conversation.name, { text }, options)
        : await this.#client.send(conversation.name, { text }, options)).offset
    } catch (err) {
      this.#sent(conversation, unsent)
      // Not lost: back in the input (if the user has not started another message there), to send again.
      const input = byId<HTMLInputElement>('text')
      if (this.#model.active === conversation.id && input.value === '') input.value = text
      throw err
    } finally {
      this.#outbox(-1)
    }
    unsent.offset = offset
    // Filed already, or due on its channel any moment (should it never come, it is not kept waiting).
    if (conversation.messages.some((m) => m.offset === offset)) this.#sent(conversation, unsent)
    else setTimeout(() => { this.#sent(conversation, unsent) }, UNSENT_GRACE_MS)
  }

  #sent (conversation: Conversation, unsent: { readonly text: string }): void {
    const index = conversation.unsent.indexOf(unsent)
    if (index < 0) return
    conversation.unsent.splice(index, 1)
    if (this.#model.active === conversation.id) this.#view.unsent()
  }

  /** The input changed: the open conversation is told that the user is typing, or stopped (an empty input). */
  typed (text: string): void {
    this.#tellTyping(this.#active(), text.trim() !== '')
  }

  #tellTyping (conversation: Conversation | undefined, active: boolean): void {
    // Best effort: a conversation that refuses it (a room whose membership was lost) says so when written to.
    if (conversation !== undefined) this.#client.typing(conversation.channel, active).catch(() => {})
  }

  /** Who is typing in the open conversation, under its messages. */
  #showTyping (): void {
    const conversation = this.#active()
    const typists = conversation === undefined ? [] : this.#client.typists(conversation.channel)
    byId('typing').textContent = typists.length === 0
      ? ''
      : typists.length === 1
        ? `${typists[0] ?? ''} is typing…`
        : typists.length === 2 ? `${typists[0] ?? ''} and ${typists[1] ?? ''} are typing…` : `${typists.length} people are typing…`
  }

  /** Loads the active conversation's newest page the first time, then the page before its oldest message. */
  async loadOlder (): Promise<void> {
    const conversation = this.#active()
    if (conversation === undefined || conversation.exhausted || this.#loading.has(conversation.id)) return
    this.#loading.add(conversation.id)
    this.#view.paging(true)
    try {
      await this.#loadPage(conversation)
    } finally {
      this.#loading.delete(conversation.id)
      if (this.#model.active === conversation.id) this.#view.paging()
    }
  }

  readIfVisible (): void {
    const conversation = this.#active()
    if (!reading() || conversation === undefined) return
    this.#markRead(conversation)
    if (conversation.unread === 0) return
    conversation.unread = 0
    this.#view.lists()
  }

  /** The user sees the conversation's newest message: the server keeps it as read, and the user's other pages clear their badge. */
  #markRead (conversation: Conversation): void {
    const offset = this.#model.toMarkRead(conversation)
    // Best effort: a read that fails is sent again with the next message seen.
    if (offset !== undefined) this.#client.markRead(conversation.channel, offset).catch(() => { conversation.read = undefined })
  }

  async #loadPage (conversation: Conversation): Promise<void> {
    const first = !conversation.opened
    const before = first ? undefined : conversation.messages[0]?.offset
    const page = await this.#client.history(conversation.channel, { limit: PAGE, ...(before === undefined ? {} : { before }) })
    conversation.opened = true
    if (page.length < PAGE) conversation.exhausted = true
    this.#file(page, false)
    // The first page shows the newest messages: start at the bottom.
    if (first && this.#model.active === conversation.id) {
      this.#view.conversation()
      this.readIfVisible()
    }
  }

  /** My most recent conversations, in the sidebar with what is unread in each (each loads its history when opened). */
  async #listConversations (): Promise<void> {
    const rooms = new Set(this.#client.rooms)
    for (const entry of await this.#client.conversations({ limit: CONVERSATIONS })) {
      if (entry.room !== undefined && (entry.room === LOBBY || !rooms.has(entry.room))) continue
      const conversation = entry.room !== undefined ? this.#model.room(entry.room) : this.#model.dm(entry.with ?? '')
      this.#model.readUpTo(conversation, entry.read, entry.unread, entry.epoch === '-' ? undefined : entry.offset)
    }
    this.readIfVisible()
  }

  /** A channel that could not be recovered: its newest messages again (the ones already shown are skipped). */
  async #reloadNewest (channel: string): Promise<void> {
    this.#file(await this.#client.history(channel, { limit: PAGE }), false)
  }

  /** Files messages in their conversations and shows the new ones; returns the conversations that gained any. */
  #file (messages: Message[], live: boolean): Set<string> {
    const gained = new Set<string>()
    let listsChanged = false
    for (const message of messages) {
      const known = this.#model.conversations.size
      const added = this.#model.add(message, live, reading())
      if (added === undefined) continue
      gained.add(added.conversation.id)
      const waiting = added.conversation.unsent.find((u) => u.offset === added.item.offset)
      if (waiting !== undefined) this.#sent(added.conversation, waiting)
      listsChanged ||= this.#model.conversations.size !== known || added.conversation.unread > 0
      if (added.conversation.id === this.#model.active) this.#view.insert(added.index, added.item)
    }
    const active = this.#active()
    if (live && active !== undefined && gained.has(active.id) && reading()) this.#markRead(active)
    if (listsChanged) this.#view.lists()
    return gained
  }

  #onPresence (event: PresenceEvent): void {
    const room = event.channel.slice('room:'.length)
    const users = this.#model.onlineIn(room)
    if (event.type === 'join') users.add(event.user)
    else users.delete(event.user)
    if (room === LOBBY) this.#view.online()
    else this.#view.members()
  }

  #forgetPresence (): void {
    if (this.#model.online.size === 0) return
    this.#model.online.clear()
    this.#view.online() // and the open room's members
  }

  async #refreshPresence (rooms = this.#client.rooms): Promise<void> {
    await Promise.all(rooms.map(async (room) => {
      const users = await this.#client.presence(`room:${room}`).catch(() => undefined)
      if (users === undefined) return
      this.#model.online.set(room, new Set(users))
    }))
    this.#view.online()
  }

  #outbox (change: number): void {
    this.#unsent += change
    byId('outbox').textContent = this.#unsent === 0 ? '' : `${this.#unsent} waiting to be sent`
  }

  #active (): Conversation | undefined {
    return this.#model.active === undefined ? undefined : this.#model.conversations.get(this.#model.active)
  }
}

// Wiring ------------------------------------------------------------------------

let page: ChatPage | undefined

function signIn (name: string): void {
  sessionStorage.setItem(NAME_KEY, name)
  byId('signin').hidden = true
  byId('chat').hidden = false
  byId('signout').hidden = false
  byId('me').textContent = name
  page = new ChatPage(name)
  page.start().catch((err: unknown) => {
    // Refused (e.g. the registry does not run dev auth): back to the sign-in form.
    sessionStorage.removeItem(NAME_KEY)
    page?.close()
    byId('chat').hidden = true
    byId('signin').hidden = false
    byId('signout').hidden = true
    const { code, message } = err as { code?: string, message?: string }
    byId('signin-error').textContent = `Could not sign in: ${code ?? ''} ${message ?? String(err)}`
    status.show('offline')
  })
}

/** Runs an action from a form or button, showing its failure instead of losing it. */
function act (action: () => Promise<void>): void {
  byId('error').textContent = ''
  action().catch(showError)
}

byId('login').addEventListener('submit', (event) => {
  event.preventDefault()
  signIn(byId<HTMLInputElement>('name').value.trim())
})

byId('signout').addEventListener('click', () => {
  sessionStorage.removeItem(NAME_KEY)
  page?.close()
  location.reload()
})

byId('compose').addEventListener('submit', (event) => {
  event.preventDefault()
  const input = byId<HTMLInputElement>('text')
  const text = input.value.trim()
  if (text === '' || page === undefined) return
  input.value = ''
  const current = page
  act(async () => { await current.say(text) })
})

byId('text').addEventListener('input', () => { page?.typed(byId<HTMLInputElement>('text').value) })

byId('join-room').addEventListener('submit', (event) => {
  event.preventDefault()
  const input = byId<HTMLInputElement>('room-name')
  const room = input.value.trim()
  const current = page
  if (current === undefined || room === '') return
  input.value = ''
  act(async () => { await current.joinRoom(room) })
})

byId('open-dm').addEventListener('submit', (event) => {
  event.preventDefault()
  const input = byId<HTMLInputElement>('dm-name')
  const user = input.value.trim()
  if (page === undefined || user === '') return
  input.value = ''
  page.openDm(user)
})

byId('rejoin').addEventListener('click', () => {
  const current = page
  const room = current?.activeRoom
  if (current !== undefined && room !== undefined) act(async () => { await current.joinRoom(room) })
})

byId('invite').addEventListener('submit', (event) => {
  event.preventDefault()
  const input = byId<HTMLInputElement>('invite-name')
  const user = input.value.trim()
  const current = page
  if (current === undefined || user === '') return
  input.value = ''
  act(async () => { await current.moderate({ action: 'invite', user }) })
})

byId('roster').addEventListener('click', (event) => {
  const user = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-kick]')?.dataset.kick
  const current = page
  if (user !== undefined && current !== undefined) act(async () => { await current.moderate({ action: 'kick', user }) })
})

byId('invite-only').addEventListener('change', () => {
  const current = page
  const mode = byId<HTMLInputElement>('invite-only').checked ? 'invite' : 'public'
  if (current !== undefined) act(async () => { await current.moderate({ action: 'settings', mode }) })
})

byId('block-user').addEventListener('click', () => {
  const current = page
  if (current !== undefined) act(async () => { await current.toggleBlock() })
})

byId('leave-room').addEventListener('click', () => {
  const current = page
  if (current !== undefined) act(async () => { await current.leaveActiveRoom() })
})

// One listener per list: buttons are rebuilt as the lists change.
byId('sidebar').addEventListener('click', (event) => {
  const button = (event.target as HTMLElement).closest('button')
  if (button === null || page === undefined) return
  if (button.dataset.conversation !== undefined) page.open(button.dataset.conversation)
  else if (button.dataset.dm !== undefined) page.openDm(button.dataset.dm)
})

// A message's own buttons: reply to it; edit or delete one of the user's.
byId('messages').addEventListener('click', (event) => {
  const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-action]')
  const offset = button?.closest<HTMLElement>('li[data-offset]')?.dataset.offset
  const current = page
  if (button === null || offset === undefined || current === undefined) return
  const action = button.dataset.action
  if (action === 'delete') act(async () => { await current.remove(offset) })
  else if (action === 'edit' || action === 'reply') current.compose({ kind: action, offset })
})

byId('compose-cancel').addEventListener('click', () => {
  page?.compose(undefined)
  byId<HTMLInputElement>('text').value = ''
})

byId('back').addEventListener('click', () => {
  showLists()
  // Where the user was: the open conversation's entry in the lists.
  document.querySelector<HTMLElement>('#sidebar button[aria-current="true"]')?.focus()
})

byId('older').addEventListener('click', () => {
  const current = page
  if (current !== undefined) act(async () => { await current.loadOlder() })
})

byId('scroller').addEventListener('scroll', () => {
  const current = page
  if (current !== undefined && byId('scroller').scrollTop < LOAD_OLDER_PX) current.loadOlder().catch(showError)
}, { passive: true })

document.addEventListener('visibilitychange', () => { page?.readIfVisible() })
narrow.addEventListener('change', () => { page?.readIfVisible() })

const saved = sessionStorage.getItem(NAME_KEY)
if (saved !== null && saved !== '') signIn(saved)
else status.show('offline')
