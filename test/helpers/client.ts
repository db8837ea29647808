/**
 * A bare websocket client that speaks docs/protocol.md (no SDK): allocate on
 * the registry, connect with the token, and wait for frames.
 */
import WebSocket from 'ws'

export type Frame = Record<string, unknown> & { type: string }

/**
 * When a wait gives up, unless it says otherwise. A wait ends as soon as what it waits for
 * happens; this only decides when a test stops waiting and fails, so it is sized for a busy
 * 2-core machine (npm test runs two files at once, beside whatever else runs there), not for how
 * fast anything should be. Latency is measured by `npm run bench`, never asserted in tests.
 */
export const PATIENCE_MS = 20_000

export interface AllocationBody { url: string, token: string, server: string, expiresAt: number }

export async function allocate (registryUrl: string, user: string): Promise<AllocationBody> {
  const response = await fetch(`${registryUrl}/allocate?user=${encodeURIComponent(user)}`)
  const body = await response.json() as AllocationBody
  if (response.status !== 200) throw new Error(`allocate failed: ${response.status} ${JSON.stringify(body)}`)
  return body
}

export class TestClient {
  readonly ws: WebSocket
  readonly frames: Frame[] = []
  /** each frame's place in the order of arrival (frames are removed from `frames` as they are consumed) */
  readonly #arrival = new WeakMap<Frame, number>()
  #arrived = 0
  readonly closed: Promise<{ code: number, reason: string }>
  #waiters: Array<() => void> = []
  #nextId = 1

  constructor (url: string) {
    this.ws = new WebSocket(url)
    this.ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame
      this.#arrival.set(frame, this.#arrived++)
      this.frames.push(frame)
      for (const wake of this.#waiters.splice(0)) wake()
    })
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() })
        for (const wake of this.#waiters.splice(0)) wake()
      })
    })
    this.ws.on('error', () => {})
  }

  /** Allocates through the registry, connects (recovering the personal channel after `since`), and waits for `welcome`. */
  static async connect (registryUrl: string, user: string, since?: { offset: string, epoch: string }): Promise<TestClient> {
    const allocation = await allocate(registryUrl, user)
    const recover = since === undefined ? '' : `&offset=${since.offset}&epoch=${encodeURIComponent(since.epoch)}`
    const client = new TestClient(`${allocation.url}?token=${encodeURIComponent(allocation.token)}${recover}`)
    client.welcome = await client.next((f) => f.type === 'welcome')
    return client
  }

  /** The welcome frame, once connected through `connect`. */
  welcome: Frame | undefined

  send (frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /** Sends a request with a fresh id and waits for the reply carrying that id. */
  async request (frame: Record<string, unknown>): Promise<Frame> {
    const id = this.#nextId++
    this.send({ ...frame, id })
    return await this.next((f) => f.id === id)
  }

  /** Removes and returns the first frame matching, waiting up to `timeoutMs`. */
  async next (match: (frame: Frame) => boolean, timeoutMs = PATIENCE_MS): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const index = this.frames.findIndex(match)
      if (index >= 0) return this.frames.splice(index, 1)[0] as Frame
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; have ${JSON.stringify(this.frames)}`)
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`socket closed; have ${JSON.stringify(this.frames)}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** Where a frame came in the order of arrival: 0 for the first frame this client received. */
  arrivalOf (frame: Frame): number {
    return this.#arrival.get(frame) ?? -1
  }

  /** Frames of a type received so far and not yet consumed. */
  pending (type: string): Frame[] {
    return this.frames.filter((f) => f.type === type)
  }

  close (): void {
    this.ws.close()
  }
}

/**
 * A real pause. Tests wait for what they expect (`next`, `eventually`, a marker sent after what
 * must not happen), not for a number of milliseconds: each call says why time itself is what it
 * tests (pacing a traffic generator, letting a real timer run).
 */
export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

type What = string | (() => string)

/**
 * Polls `check` until it returns true; gives up after `timeoutMs` (PATIENCE_MS unless said).
 * `eventually(check, 'what')`, or `eventually(check, timeoutMs, 'what')` for a longer wait.
 */
export async function eventually (check: () => boolean | Promise<boolean>, timeoutOrWhat: number | What = PATIENCE_MS, what: What = 'condition'): Promise<void> {
  const timeoutMs = typeof timeoutOrWhat === 'number' ? timeoutOrWhat : PATIENCE_MS
  const described = typeof timeoutOrWhat === 'number' ? what : timeoutOrWhat
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof described === 'string' ? described : described()}`)
    await sleep(20) // the polling interval
  }
}
