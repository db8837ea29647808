/**
 * What the docs show is what the code does (issue 16, point 7): the sample
 * session of docs/protocol.md §8, run as printed against `switchboard
 * standalone`, prints the frames its "Output" block shows; and dev sign-in,
 * which lets anyone sign in as anyone, says so when it listens beyond loopback.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { eventually } from './helpers/client.js'
import { runCli, waitForHttp } from './helpers/processes.js'
import { freePort, sharedRedis } from './helpers/redis.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DEV_WARNING = /AUTH_MODE=dev on a non-loopback address: anyone who can reach this server can sign in as any user/

/** The first fenced block after `after` in the section `heading` of a Markdown text. */
function block (markdown: string, heading: string, after: string): string {
  const section = markdown.slice(markdown.indexOf(heading))
  const from = section.indexOf(after)
  const match = /```[a-z]*\n([\s\S]*?)```/.exec(section.slice(from))
  if (from < 0 || match === null) throw new Error(`no block after ${JSON.stringify(after)} in ${heading}`)
  return match[1] ?? ''
}

/** A frame with what differs between runs (epochs, offsets, times) replaced by what kind of value it is. */
function shape (value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => shape(v))
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shape(v, k)]))
  if (key === 'ts' && typeof value === 'number') return '<ms>'
  // A channel without history is in the epoch '-' at offset '0-0': those are values, not run-dependent.
  if (key === 'epoch' && value !== '-') return /^[A-Za-z0-9_-]{1,32}$/.test(String(value)) ? '<epoch>' : value
  if (key === 'offset' && value !== '0-0') return /^\d+-\d+$/.test(String(value)) ? '<offset>' : value
  return value
}

interface Transcript { sent: string[], received: string[], other: string[], frames: Array<Record<string, unknown>> }

/** Lines of the sample's output: frames sent (in order), frames received (sorted: §3 leaves the order of an ack and its copy open), the rest. */
function transcript (output: string): Transcript {
  const result: Transcript = { sent: [], received: [], other: [], frames: [] }
  for (const line of output.split('\n').map((l) => l.trim()).filter((l) => l !== '')) {
    const arrow = line.slice(0, 3)
    if (arrow === '-> ' || arrow === '<- ') {
      const frame = JSON.parse(line.slice(3)) as Record<string, unknown>
      ;(arrow === '-> ' ? result.sent : result.received).push(JSON.stringify(shape(frame)))
      if (arrow === '<- ') result.frames.push(frame)
    } else {
      result.other.push(line)
    }
  }
  result.received.sort()
  return result
}

async function runSample (script: string, registry: string): Promise<string> {
  const child = spawn(process.execPath, ['--input-type=module', '-'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', REGISTRY: registry }, stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  child.stdin.end(script)
  const code = await exited
  if (code !== 0) throw new Error(`the sample exited with ${String(code)}:\n${output}`)
  return output
}

t.test('protocol.md §8: the sample session prints the frames its Output block shows', async (t) => {
  const doc = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8')
  const heading = '## 8. Example: a Node client'
  const script = block(doc, heading, '```js')
  const documented = transcript(block(doc, heading, 'Output ('))
  const port = await freePort()
  const server = runCli(t, 'standalone', { PORT: String(port), LOG_LEVEL: 'warn' })
  const registry = `http://127.0.0.1:${port}`
  await waitForHttp(`${registry}/healthz`)

  const first = transcript(await runSample(script, registry))
  t.same(first.sent, documented.sent, 'the frames sent, in order')
  t.same(first.received, documented.received, 'every frame received, each of the shape shown (epochs, offsets and times aside)')
  t.same(first.other, documented.other, 'and how it ends')
  const epochs = first.frames.map((f) => f.epoch).filter((e): e is string => typeof e === 'string' && e !== '-')
  t.ok(epochs.length > 0 && epochs.every((e) => e.length >= 1 && e.length <= 32), `epochs are opaque strings of 1-32 characters (${[...new Set(epochs)].join(', ')})`)

  // "Run it again within 10 minutes: welcome lists "rooms":["general"], and the same mids get only acks."
  const second = transcript(await runSample(script, registry))
  t.match(second.frames.find((f) => f.type === 'welcome'), { rooms: ['general'] }, 'run again: welcome lists the room')
  t.same(second.frames.filter((f) => f.type === 'message'), [], 'and no message is stored or delivered again')
  t.same(second.frames.filter((f) => f.type === 'ack').map((f) => f.offset), first.frames.filter((f) => f.type === 'ack').map((f) => f.offset),
    'the acks carry the original offsets')
  t.notMatch(server.output(), DEV_WARNING, 'standalone on its default address, 127.0.0.1: no dev sign-in warning')
})

t.test('dev sign-in beyond loopback is announced with a warning; on loopback or with jwt it is not', async (t) => {
  const redis = await sharedRedis()
  const registry = (env: Record<string, string>): ReturnType<typeof runCli> =>
    runCli(t, 'registry', { REDIS_URL: redis.url, TOKEN_SECRET: 'docs-match-secret-0123456789', PORT: '0', ...env })
  const listening = /Server listening at/
  const cases: Array<[string, ReturnType<typeof runCli>, boolean]> = [
    ['registry, AUTH_MODE=dev on 0.0.0.0', registry({ AUTH_MODE: 'dev', HOST: '0.0.0.0' }), true],
    ['registry, AUTH_MODE=dev on 127.0.0.1', registry({ AUTH_MODE: 'dev', HOST: '127.0.0.1' }), false],
    ['registry, AUTH_MODE=jwt on 0.0.0.0', registry({ AUTH_MODE: 'jwt', JWT_SECRET: 'docs-match-jwt-secret-0123', HOST: '0.0.0.0' }), false],
    ['standalone on 0.0.0.0 (dev by default)', runCli(t, 'standalone', { PORT: '0', HOST: '0.0.0.0' }), true]
  ]
  for (const [what, server, warned] of cases) {
    // The warning comes before the server listens: once it listens, it has been said or it never will be.
    await eventually(() => listening.test(server.output()), 30_000, () => `${what} to listen:\n${server.output()}`)
    if (warned) t.match(server.output(), DEV_WARNING, `${what}: warned`)
    else t.notMatch(server.output(), DEV_WARNING, `${what}: no warning`)
  }
})

t.test('README: the Redis example that turns on dev sign-in keeps every server on loopback', async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const example = block(readme, '## Running against Redis', '```sh')
  t.match(example, /^export AUTH_MODE=dev\b/m, 'the example signs in with dev mode')
  t.match(example, /^export HOST=127\.0\.0\.1\b/m, 'so it exports HOST=127.0.0.1 for every server it starts')
  t.notMatch(example, /\bHOST=(?!127\.0\.0\.1\b)/, 'and no server overrides it')
})
