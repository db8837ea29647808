/**
 * Renders the chat model into the page. Lists are rebuilt (they are short);
 * messages are inserted one by one, so the log's live region announces only
 * what is new and the reader's scroll position holds while older pages load.
 */
import { LOBBY, continues } from './model.js'
import type { ChatMessage, ChatModel, Conversation } from './model.js'

type Child = Node | string

export function el<K extends keyof HTMLElementTagNameMap> (tag: K, props: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(props)) {
    if (name === 'class') node.className = value
    else node.setAttribute(name, value)
  }
  node.append(...children)
  return node
}

export function byId<T extends HTMLElement = HTMLElement> (id: string): T {
  const node = document.getElementById(id)
  if (node === null) throw new Error(`the page has no #${id}`)
  return node as T
}

/** Scrolled to within this many pixels of the bottom counts as reading the newest messages. */
const NEAR_BOTTOM_PX = 80

export class ChatView {
  readonly #model: ChatModel
  readonly scroller = byId('scroller')
  readonly #messages = byId('messages')
  /** the rendered item of each message of the active conversation, by offset */
  #items = new Map<string, HTMLElement>()

  constructor (model: ChatModel) {
    this.#model = model
  }

  lists (): void {
    const conversations = [...this.#model.conversations.values()].sort((a, b) => a.name.localeCompare(b.name))
    byId('rooms').replaceChildren(...conversations.filter((c) => c.kind === 'room').map((c) => this.#conversationItem(c)))
    byId('dms').replaceChildren(...conversations.filter((c) => c.kind === 'dm').map((c) => this.#conversationItem(c)))
    const unread = this.#model.unreadTotal
    document.title = unread > 0 ? `(${unread}) Switchboard chat` : 'Switchboard chat'
  }

  online (): void {
    const users = [...this.#model.onlineIn(LOBBY)].sort()
    byId('online-count').textContent = `(${users.length})`
    byId('online').replaceChildren(...users.map((user) => {
      if (user === this.#model.me) return el('li', { class: 'me' }, el('span', {}, `${user} (you)`))
      return el('li', {}, el('button', { type: 'button', 'data-dm': user, title: `Message ${user}` }, user))
    }))
    this.members()
  }

  members (): void {
    const conversation = this.#activeConversation()
    const aside = byId('members-pane')
    aside.hidden = conversation?.kind !== 'room'
    if (conversation?.kind !== 'room') return
    const users = [...this.#model.onlineIn(conversation.name)].sort()
    byId('members-title').textContent = `In #${conversation.name} (${users.length})`
    byId('members').replaceChildren(...users.map((user) => el('li', {}, user === this.#model.me ? `${user} (you)` : user)))
  }

  /** The open room's roster, invite form and invite-only switch, for its owner and moderators. */
  manage (): void {
    const conversation = this.#activeConversation()
    const shown = this.#model.roomDetails
    const role = shown?.room === conversation?.name ? shown?.details.role : undefined
    const manage = byId('manage')
    manage.hidden = conversation?.kind !== 'room' || (role !== 'owner' && role !== 'moderator')
    if (manage.hidden || shown === undefined) return
    const rank = { owner: 3, moderator: 2, member: 1 }
    byId('roster').replaceChildren(...shown.members.map((m) => {
      const item = el('li', {}, el('span', {}, `${m.user}${m.role === 'member' ? '' : ` (${m.role})`}`))
      if (m.user !== this.#model.me && rank[m.role] < rank[role ?? 'member']) {
        item.append(el('button', { type: 'button', class: 'quiet kick', 'data-kick': m.user, 'aria-label': `Kick ${m.user}` }, 'Kick'))
      }
      return item
    }))
    byId('invite-only-label').hidden = role !== 'owner'
    byId<HTMLInputElement>('invite-only').checked = shown.details.mode === 'invite'
  }

  /** Shows the active conversation from scratch, scrolled to its newest message. */
  conversation (): void {
    const conversation = this.#activeConversation()
    byId('title').textContent = conversation === undefined ? 'Pick a conversation' : conversation.kind === 'room' ? `#${conversation.name}` : conversation.name
    byId('leave-room').hidden = conversation?.kind !== 'room'
    const refused = conversation?.kind === 'room' ? this.#model.refused.get(conversation.name) : undefined
    byId('refused').hidden = refused === undefined
    byId('refused-text').textContent = refused === undefined ? '' : `Could not rejoin #${conversation?.name ?? ''} after reconnecting (${refused}): you no longer receive its messages.`
    const block = byId<HTMLButtonElement>('block-user')
    block.hidden = conversation?.kind !== 'dm' || conversation.name === this.#model.me
    const blocked = conversation?.kind === 'dm' && this.#model.blocked.has(conversation.name)
    block.textContent = blocked ? 'Unblock' : 'Block'
    const text = byId<HTMLInputElement>('text')
    text.disabled = conversation === undefined || refused !== undefined || blocked
    byId<HTMLButtonElement>('send').disabled = text.disabled
    text.placeholder = conversation === undefined ? '' : blocked ? `You blocked ${conversation.name}` : `Message ${byId('title').textContent}`
    this.#items = new Map()
    const messages = conversation?.messages ?? []
    this.#messages.replaceChildren(...messages.map((m, i) => this.#item(m, messages[i - 1])))
    this.paging()
    this.members()
    this.manage()
    this.unsent()
    this.scroller.scrollTop = this.scroller.scrollHeight
  }

  /** What the user wrote in the active conversation and is not sent yet, greyed, after its messages. */
  unsent (): void {
    const { scroller } = this
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM_PX
    const unsent = this.#activeConversation()?.unsent ?? []
    byId('unsent').replaceChildren(...unsent.map(({ text }) => el('li', { class: 'msg mine pending' },
      el('div', { class: 'meta' }, 'waiting to be sent…'), el('p', { class: 'text' }, text))))
    // Kept in view for a reader at the bottom; one reading older messages stays where they are.
    if (atBottom) scroller.scrollTop = scroller.scrollHeight
  }

  /** Puts a message of the active conversation in its place, keeping what the reader looks at still. */
  insert (index: number, message: ChatMessage): void {
    const { scroller } = this
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM_PX
    const fromBottom = scroller.scrollHeight - scroller.scrollTop
    const messages = this.#activeConversation()?.messages ?? []
    const next = messages[index + 1]
    const nextItem = next === undefined ? undefined : this.#items.get(next.offset)
    this.#messages.insertBefore(this.#item(message, messages[index - 1]), nextItem ?? null)
    // The one after it now follows this one: it may join its group, or start one of its own.
    if (next !== undefined) nextItem?.classList.toggle('grouped', continues(message, next))
    if (atBottom && index === (this.#activeConversation()?.messages.length ?? 0) - 1) scroller.scrollTop = scroller.scrollHeight
    else scroller.scrollTop = scroller.scrollHeight - fromBottom
  }

  /** The "load earlier" button, or the note that this is the beginning. */
  paging (loading = false): void {
    const conversation = this.#activeConversation()
    const older = byId<HTMLButtonElement>('older')
    older.hidden = conversation === undefined || conversation.exhausted
    older.disabled = loading
    older.textContent = loading ? 'Loading…' : 'Load earlier messages'
    byId('start').hidden = conversation === undefined || !conversation.exhausted
  }

  #activeConversation (): Conversation | undefined {
    return this.#model.active === undefined ? undefined : this.#model.conversations.get(this.#model.active)
  }

  /** Shows a message of the active conversation again, after an edit or a delete. */
  replace (message: ChatMessage): void {
    const old = this.#items.get(message.offset)
    if (old === undefined) return
    const messages = this.#activeConversation()?.messages ?? []
    const at = messages.indexOf(message)
    old.replaceWith(this.#item(message, messages[at - 1]))
  }

  /** A message's item; `previous` is the message shown before it, whose group it may continue (its name and time then hidden). */
  #item (message: ChatMessage, previous: ChatMessage | undefined): HTMLElement {
    const time = new Date(message.ts)
    const mine = message.from === this.#model.me
    const classes = `msg${mine ? ' mine' : ''}${continues(previous, message) ? ' grouped' : ''}${message.deleted ? ' deleted' : ''}`
    const meta = el('div', { class: 'meta' }, el('span', { class: 'from' }, message.from), ' ',
      el('time', { datetime: time.toISOString() }, time.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })))
    const item = el('li', { class: classes, 'data-offset': message.offset }, meta)
    if (message.replyTo !== undefined) {
      const answered = this.#activeConversation()?.messages.find((m) => m.offset === message.replyTo)
      const quoted = answered === undefined ? 'an earlier message' : answered.deleted ? 'a deleted message' : `${answered.from}: ${answered.text}`
      item.append(el('p', { class: 'quote' }, `↪ ${quoted}`))
    }
    item.append(el('p', { class: 'text' }, message.deleted ? 'This message was deleted.' : message.text))
    if (message.edited && !message.deleted) item.append(el('span', { class: 'edited' }, '(edited)'))
    if (!message.deleted) {
      const actions = el('div', { class: 'actions' },
        el('button', { type: 'button', class: 'quiet', 'data-action': 'reply', 'aria-label': 'Reply to this message' }, 'Reply'))
      if (mine) {
        actions.append(el('button', { type: 'button', class: 'quiet', 'data-action': 'edit', 'aria-label': 'Edit this message' }, 'Edit'),
          el('button', { type: 'button', class: 'quiet', 'data-action': 'delete', 'aria-label': 'Delete this message' }, 'Delete'))
      }
      item.append(actions)
    }
    this.#items.set(message.offset, item)
    return item
  }

  #conversationItem (conversation: Conversation): HTMLElement {
    const label = el('span', { class: 'name' }, conversation.kind === 'room' ? `#${conversation.name}` : conversation.name)
    const button = el('button', { type: 'button', 'data-conversation': conversation.id, 'aria-current': String(conversation.id === this.#model.active) }, label)
    const refused = conversation.kind === 'room' ? this.#model.refused.get(conversation.name) : undefined
    if (refused !== undefined) button.append(' ', el('span', { class: 'badge warn', title: `could not rejoin (${refused})` }, '!', el('span', { class: 'visually-hidden' }, ` could not rejoin (${refused})`)))
    if (conversation.unread > 0) {
      button.append(' ', el('span', { class: 'badge' }, String(conversation.unread), el('span', { class: 'visually-hidden' }, ' unread')))
    }
    return el('li', {}, button)
  }
}
