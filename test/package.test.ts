/**
 * The package as a user gets it: `npm pack`, the tarball installed into a fresh folder, and then,
 * from the installed package only, `switchboard cluster up / status / down` (which read the
 * Redis, Sentinel and nginx templates at run time) and a TypeScript consumer checked under
 * `strict` without skipLibCheck: one file importing the plugins and the SDK, and the example of
 * docs/plugins.md as the doc has it (read from the doc here, so the two cannot drift).
 */
import t from 'tap'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { killClusterOnExit } from '../infra/cluster/processes.js'
import type { ClusterFile } from '../infra/cluster/index.js'
import { CLI, plainEnv, runToEnd } from './helpers/processes.js'
import type { Finished } from './helpers/processes.js'

// npm install, tsc over fastify's types and a whole `cluster up` take 40-100 s on a busy 2-core
// machine: room above tap's 180 s for a slower day.
t.setTimeout(300_000)

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

/** A host app and a Node client, as the README and docs/sdk.md describe them. */
const CONSUMER = `
import Fastify from 'fastify'
import type { FastifyRequest } from 'fastify'
import WebSocket from 'ws'
import { UnauthorizedError, healthPlugin, metricsPlugin, registryPlugin, socketPlugin, storePlugin } from 'switchboard/plugins'
import type { Store, SwitchboardSocket } from 'switchboard/plugins'
import { createClient } from 'switchboard/sdk'
import type { ConnectionState, Message } from 'switchboard/sdk'

const tokenSecret = 'consumer-token-secret-0123456789'
const app = Fastify()
await app.register(metricsPlugin)
await app.register(storePlugin, { type: 'memory' })
await app.register(registryPlugin, {
  tokenSecret,
  authenticate: (request: FastifyRequest): string => {
    const user = request.headers['x-user']
    if (typeof user !== 'string') throw new UnauthorizedError('who are you?')
    return user
  }
})
await app.register(socketPlugin, { tokenSecret, serverId: 'consumer-1', drain: { timeoutMs: 5000 } })
await app.register(healthPlugin)
const socket: SwitchboardSocket = app.switchboardSocket
const store: Store = app.switchboardStore
const open: number = socket.connections
app.log.info({ open, store: typeof store }, 'ready')

const client = createClient({ registryUrl: 'http://127.0.0.1:3000', auth: { user: 'alice' }, WebSocket })
client.on('message', (message: Message) => { app.log.info({ from: message.from, channel: message.channel }, 'message') })
client.on('state', (state: ConnectionState, detail: { delayMs?: number }) => { app.log.info({ state, delayMs: detail.delayMs }, 'state') })
await client.ready
await client.join('general')
await client.publish('general', { text: 'hello' })
`

/** The first \`\`\`ts block of docs/plugins.md. */
function pluginsDocExample (): string {
  const doc = readFileSync(join(ROOT, 'docs', 'plugins.md'), 'utf8')
  const block = /```ts\n([\s\S]*?)\n```/.exec(doc)?.[1]
  if (block === undefined) throw new Error('docs/plugins.md has no ```ts block')
  return block
}

t.test('the packed tarball installs, runs cluster up/status/down, and type-checks a strict consumer', async (t) => {
  t.ok(existsSync(CLI), 'dist is built (npm test builds it before tap runs)')
  const work = mkdtempSync(join(tmpdir(), 'sb-package-'))
  t.teardown(() => { rmSync(work, { recursive: true, force: true }) })
  const env = plainEnv({ npm_config_update_notifier: 'false' })
  const shown = (run: Finished): string => `exit ${String(run.code)}\n${run.stdout}\n${run.stderr}`

  // --ignore-scripts: `prepare` would build dist again, and npm test has just built it.
  const pack = await runToEnd('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, env })
  t.equal(pack.code, 0, 'npm pack', { output: shown(pack) })
  const [{ filename }] = JSON.parse(pack.stdout) as [{ filename: string }]

  // The tarball alone, as a user installs it (npm's cache serves the dependencies). npm does not run
  // `prepare` for a tarball: dist is in it, and a build here would fail (no TypeScript in this folder).
  const app = join(work, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'consumer', private: true, type: 'module' })}\n`)
  const install = await runToEnd('npm', ['install', join(work, filename), '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock'], { cwd: app, env })
  t.equal(install.code, 0, 'npm install <tarball>', { output: shown(install) })
  t.notOk(existsSync(join(app, 'node_modules', 'typescript')), 'TypeScript is not among what the package brings')

  const typeCheck = async (): Promise<void> => {
    writeFileSync(join(app, 'consumer.ts'), CONSUMER)
    writeFileSync(join(app, 'plugins-doc.ts'), pluginsDocExample())
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, skipLibCheck: false, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022' },
      files: ['consumer.ts', 'plugins-doc.ts']
    }))
    const tsc = await runToEnd(process.execPath, [TSC, '-p', app], { cwd: app, env })
    t.equal(tsc.code, 0, 'tsc --strict, no skipLibCheck: the plugins, the SDK and the docs/plugins.md example', { output: shown(tsc) })
  }

  const clusterCommands = async (): Promise<void> => {
    const bin = join(app, 'node_modules', '.bin', 'switchboard')
    const dir = join(work, 'cluster')
    killClusterOnExit(dir)
    const cluster = async (...args: string[]): Promise<Finished> => await runToEnd(bin, ['cluster', ...args, '--dir', dir], { cwd: app, env })
    const up = await cluster('up', '--sockets', '1', '--registries', '1')
    t.teardown(async () => { await cluster('down') })
    if (!t.equal(up.code, 0, 'switchboard cluster up', { output: shown(up) })) return
    const status = await cluster('status')
    t.equal(status.code, 0, 'switchboard cluster status: every component healthy', { output: shown(status) })
    t.match(status.stdout, /registry\s+registry-1\s+\d+\s+http:\S+\s+healthy/)
    const { entry } = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterFile
    t.match(await (await fetch(`${entry}/`)).text(), /<title>Switchboard chat<\/title>/, 'the chat page, from the package\'s dist/client/web')
    t.equal((await fetch(`${entry}/admin/`)).status, 200, 'the admin dashboard, from the package\'s client/admin')
    t.match(await (await fetch(`${entry}/allocate?user=alice`)).json(), { url: /^ws:\/\/127\.0\.0\.1:\d+\/ws$/ }, 'allocation through nginx')
    const down = await cluster('down')
    t.equal(down.code, 0, 'switchboard cluster down', { output: shown(down) })
    t.match(down.stdout, /cluster stopped/)
    t.equal((await cluster('status')).code, 1, 'status now reports it down')
  }

  // Side by side (each takes a while on a busy machine), and each to its end whatever the other does.
  for (const result of await Promise.allSettled([typeCheck(), clusterCommands()])) {
    if (result.status === 'rejected') throw result.reason
  }
})
