#!/usr/bin/env node
/**
 * switchboard <role>: reads the environment, composes the role's plugins and
 * listens. Roles: registry, socket, standalone.
 */
import type { FastifyInstance } from 'fastify'
import { buildHealth, buildRegistry, buildSocket, buildStandalone } from './app.js'
import { healthConfig, registryConfig, socketConfig, standaloneConfig } from './config.js'
import { clusterCommand } from './cluster-cli.js'

const USAGE = `usage: switchboard <role>

roles:
  standalone   registry + socket server + web page, in-memory store (npm start)
  registry     GET /allocate, /servers, /healthz  (needs REDIS_URL, TOKEN_SECRET)
  socket       GET /ws websocket server           (needs REDIS_URL, TOKEN_SECRET); SIGTERM drains it
  health       evicts socket servers that stopped heartbeating (needs REDIS_URL)
  cluster      up | down | status: the whole topology as local processes (see switchboard cluster --help)

Configuration is read from the environment; see README.md.`

/** `devAuth`: this role signs anyone in as whoever they say (AUTH_MODE=dev). */
async function build (role: string): Promise<{ app: FastifyInstance, host: string, port: number, devAuth?: boolean } | null> {
  switch (role) {
    case 'registry': {
      const config = registryConfig()
      return { app: await buildRegistry(config), host: config.HOST, port: config.PORT, devAuth: config.AUTH_MODE === 'dev' }
    }
    case 'socket': {
      const config = socketConfig()
      return { app: await buildSocket(config), host: config.HOST, port: config.PORT }
    }
    case 'health': {
      const config = healthConfig()
      return { app: await buildHealth(config), host: config.HOST, port: config.PORT }
    }
    case 'standalone': {
      const config = standaloneConfig()
      return { app: await buildStandalone(config), host: config.HOST, port: config.PORT, devAuth: config.AUTH_MODE === 'dev' }
    }
    default:
      return null
  }
}

function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(host)
}

async function main (): Promise<void> {
  const role = process.argv[2] ?? ''
  if (role === '' || role === '-h' || role === '--help' || role === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  if (role === 'cluster') {
    try {
      process.exitCode = await clusterCommand(process.argv.slice(3))
    } catch (err) {
      process.stderr.write(`switchboard cluster: ${(err as Error).message}\n`)
      process.exitCode = 1
    }
    return
  }
  let built
  try {
    built = await build(role)
  } catch (err) {
    process.stderr.write(`switchboard ${role}: ${(err as Error).message}\n`)
    process.exit(2)
  }
  if (built === null) {
    process.stderr.write(`switchboard: unknown role ${JSON.stringify(role)}\n\n${USAGE}\n`)
    process.exit(2)
  }
  const { app, host, port } = built
  // Dev sign-in on loopback is a first try on one's own machine; anywhere else it is an open door.
  if (built.devAuth === true && !isLoopback(host)) {
    app.log.warn({ host, authMode: 'dev' },
      'AUTH_MODE=dev on a non-loopback address: anyone who can reach this server can sign in as any user (?user=). Use AUTH_MODE=jwt, or HOST=127.0.0.1')
  }
  let stopping = false
  const stop = (reason: string): void => {
    if (stopping) return
    stopping = true
    app.log.info({ reason }, 'shutting down')
    // A socket server first moves its clients to other servers (graceful drain).
    const drained = app.hasDecorator('switchboardSocket') && reason === 'SIGTERM' ? app.switchboardSocket.drain() : Promise.resolve()
    drained.then(async () => { await app.close() }).then(() => process.exit(0), (err: unknown) => {
      app.log.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  }
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
  // A drain asked for over HTTP (POST /drain) ends the process the same way.
  if (app.hasDecorator('switchboardSocket')) app.switchboardSocket.drained.then(() => stop('drained'), () => {})
  try {
    await app.listen({ host, port })
  } catch (err) {
    app.log.fatal({ err }, 'cannot listen')
    process.exit(1)
  }
  if (role === 'standalone') {
    const address = app.server.address()
    const actualPort = typeof address === 'object' && address !== null ? address.port : port
    const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host
    const scheme = app.initialConfig.https !== undefined && app.initialConfig.https !== null ? 'https' : 'http'
    process.stdout.write(`\nSwitchboard is running. Open ${scheme}://${shown}:${actualPort}/ in two browser tabs and chat.\n\n`)
  }
}

await main()
