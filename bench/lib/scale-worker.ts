/**
 * A load-generator process of the `scale` benchmark (bench/scenarios/scale.ts
 * runs it as `node dist/bench/lib/scale-worker.js '<WorkerConfig JSON>'`).
 * It opens its share of idle connections, each its own user allocated through
 * GET /allocate, from one 127.x source address, and holds them until told to
 * stop. Failures are counted and retried, never thrown; the parent is told
 * everything over IPC.
 */
import WebSocket from 'ws'

export interface WorkerConfig {
  readonly registryUrl: string
  /** the local address every websocket binds (127.0.0.x: each has its own ephemeral ports) */
  readonly sourceAddress: string
  /** users are `${userPrefix}-${n}` for n in [0, count) */
  readonly userPrefix: string
  readonly count: number
  /** connections being allocated or opened at once */
  readonly inFlight: number
  /** for one allocation plus upgrade plus welcome, ms */
  readonly attemptTimeoutMs: number
  /** attempts per connection before it counts as failed */
  readonly attempts: number
}

/** parent → worker (the parent ends a worker with SIGKILL, after the servers are gone) */
export type ParentMessage = { readonly type: 'start' } | { readonly type: 'tally' }

/** worker → parent */
export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'progress', readonly connected: number, readonly failed: number, readonly dropped: number }
  | { readonly type: 'done', readonly connected: number, readonly failed: number, readonly retries: number, readonly errors: Record<string, number> }
  | { readonly type: 'tally', readonly open: number, readonly perServer: Record<string, number>, readonly droppedByCode: Record<string, number> }

interface Allocation { readonly url: string, readonly token: string, readonly server: string }

/** An attempt that failed: `key` groups it in the error counts; `retryAfterMs` comes from a 503. */
class AttemptError extends Error {
  constructor (readonly key: string, readonly retryAfterMs = 0) { super(key) }
}

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig
const open = new Map<WebSocket, string>()
const errors: Record<string, number> = {}
let connected = 0
let failed = 0
let retries = 0
let dropped = 0
/** connections closed after their welcome, by close code (1012: the server found its relay deaf; 1006: no close frame) */
const droppedByCode: Record<string, number> = {}

function send (message: WorkerMessage): void {
  if (process.connected) process.send?.(message)
}

function errorKey (err: unknown): string {
  if (err instanceof AttemptError) return err.key
  const { code, name, message } = err as { code?: unknown, name?: unknown, message?: unknown }
  if (typeof code === 'string') return code
  if (name === 'TimeoutError' || name === 'AbortError') return 'timeout'
  return String(message ?? err).slice(0, 60)
}

async function allocate (user: string): Promise<Allocation> {
  const response = await fetch(`${config.registryUrl}/allocate?user=${user}`, { signal: AbortSignal.timeout(config.attemptTimeoutMs) })
  if (response.status !== 200) {
    await response.arrayBuffer().catch(() => undefined)
    throw new AttemptError(`allocate ${response.status}`, Number(response.headers.get('retry-after') ?? 0) * 1000)
  }
  return await response.json() as Allocation
}

/** Opens the websocket from the source address and resolves on its `welcome` frame. */
async function connect (allocation: Allocation): Promise<WebSocket> {
  const ws = new WebSocket(`${allocation.url}?token=${encodeURIComponent(allocation.token)}`, {
    localAddress: config.sourceAddress,
    handshakeTimeout: config.attemptTimeoutMs
  })
  return await new Promise<WebSocket>((resolve, reject) => {
    const timer = setTimeout(() => fail(new AttemptError('timeout')), config.attemptTimeoutMs)
    const fail = (err: Error): void => {
      clearTimeout(timer)
      ws.removeAllListeners()
      ws.on('error', () => {})
      ws.terminate()
      reject(err)
    }
    ws.once('error', fail)
    ws.once('close', (code) => fail(new AttemptError(`closed ${code}`)))
    ws.once('message', (raw) => {
      let frame: { type?: string, code?: string } = {}
      try {
        frame = JSON.parse(raw.toString()) as typeof frame
      } catch {}
      if (frame.type !== 'welcome') return fail(new AttemptError(`frame ${frame.type ?? '?'} ${frame.code ?? ''}`.trim()))
      clearTimeout(timer)
      ws.removeAllListeners()
      ws.on('error', () => {})
      resolve(ws)
    })
  })
}

/** Keeps an open connection idle (ws answers pings by itself) and notices if it goes away. */
function hold (ws: WebSocket, server: string): void {
  open.set(ws, server)
  ws.on('close', (code) => {
    if (!open.delete(ws)) return
    dropped++
    droppedByCode[code] = (droppedByCode[code] ?? 0) + 1
  })
}

async function connectOne (user: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const allocation = await allocate(user)
      hold(await connect(allocation), allocation.server)
      connected++
      return
    } catch (err) {
      const key = errorKey(err)
      errors[key] = (errors[key] ?? 0) + 1
      if (attempt >= config.attempts) {
        failed++
        return
      }
      retries++
      const wait = err instanceof AttemptError && err.retryAfterMs > 0 ? err.retryAfterMs : 200 * attempt
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }
}

async function run (): Promise<void> {
  const ticker = setInterval(() => send({ type: 'progress', connected, failed, dropped }), 1000)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(config.inFlight, config.count) }, async () => {
    while (next < config.count) await connectOne(`${config.userPrefix}-${next++}`)
  }))
  clearInterval(ticker)
  send({ type: 'done', connected, failed, retries, errors })
}

function tally (): WorkerMessage {
  const perServer: Record<string, number> = {}
  for (const server of open.values()) perServer[server] = (perServer[server] ?? 0) + 1
  return { type: 'tally', open: open.size, perServer, droppedByCode }
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'start') {
    run().catch((err: unknown) => {
      process.stderr.write(`scale worker: ${(err as Error).stack ?? String(err)}\n`)
      process.exit(1)
    })
  } else if (message.type === 'tally') {
    send(tally())
  }
})
// Orphaned (the parent died): let the connections go with the process.
process.on('disconnect', () => process.exit(0))
send({ type: 'ready' })
