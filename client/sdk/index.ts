/**
 * Switchboard client SDK, for browsers and Node.
 *
 *   const client = createClient({ registryUrl: 'https://chat.example.com', auth: { token: getJwt } })
 *   client.on('message', (m) => render(m))
 *   await client.ready
 *   await client.join('general')
 *   await client.publish('general', { text: 'hello' })
 */
import { SwitchboardClient } from './client.js'
import type { ClientOptions } from './types.js'

export { SwitchboardClient, compareOffsets, dmChannel } from './client.js'
export { SwitchboardError } from './types.js'
export type {
  Ack, Amendment, Auth, ClientEvents, ClientOptions, Conversation, ConnectionState, Message, MessageOptions, Moderated, PresenceEvent, PresenceSnapshot, ReadState, Receipt, RoomChange, RoomDetails, RoomMemberInfo, SubscribeFailure, TypingEvent,
  WebSocketLike, WebSocketConstructor, FetchLike
} from './types.js'
export type { ServerLimits } from './pacer.js'

export function createClient (options: ClientOptions): SwitchboardClient {
  return new SwitchboardClient(options)
}
