/** SDK clients for tests: Node's `ws` as the WebSocket, closed in teardown. */
import WebSocket from 'ws'
import { createClient } from '../../client/sdk/index.js'
import type { FetchLike, Message, SwitchboardClient } from '../../client/sdk/index.js'

interface Teardown { teardown (fn: () => unknown): void }

export interface SdkClient {
  readonly client: SwitchboardClient
  readonly messages: Message[]
  /** when each message reached the application (Date.now()), same order as messages */
  readonly arrivals: number[]
  readonly states: string[]
  /** channels the SDK said it could not recover (`reset`) */
  readonly resets: string[]
}

export async function sdkClient (t: Teardown, registryUrl: string, user: string, options: { fetch?: FetchLike } = {}): Promise<SdkClient> {
  const client = createClient({
    registryUrl,
    auth: { user },
    WebSocket,
    backoff: { baseMs: 50, maxMs: 500 },
    ...options
  })
  t.teardown(() => client.close())
  const messages: Message[] = []
  const arrivals: number[] = []
  const states: string[] = []
  const resets: string[] = []
  client.on('message', (m) => { messages.push(m); arrivals.push(Date.now()) })
  client.on('state', (s) => { states.push(s) })
  client.on('reset', (channel) => { resets.push(channel) })
  await client.ready
  return { client, messages, arrivals, states, resets }
}
