/**
 * switchboard-web: serves the chat page at `/` and the browser build of the
 * client SDK (dist/client/sdk) at `/sdk/`. The page talks to the registry on
 * the same origin, so it is registered beside the registry.
 *
 * The page is written in TypeScript (client/web/src) and bundled with the
 * SDK by esbuild into dist/client/web (`npm run build:web`): one small,
 * self-contained build tool, one file to load, and the page is type-checked
 * with the rest. Nothing comes from a CDN at run time.
 */
import fp from 'fastify-plugin'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../package-root.js'

export function webRoot (): string {
  return join(packageRoot(), 'dist', 'client', 'web')
}

export function sdkRoot (): string {
  return join(packageRoot(), 'dist', 'client', 'sdk')
}

export interface SwitchboardWebOptions {
  /** folder with index.html (default: dist/client/web, made by `npm run build`) */
  readonly root?: string
  /** folder with the SDK's browser build (default: dist/client/sdk, made by `npm run build`) */
  readonly sdk?: string
}

async function switchboardWeb (fastify: FastifyInstance, options: SwitchboardWebOptions): Promise<void> {
  const root = options.root ?? webRoot()
  const sdk = options.sdk ?? sdkRoot()
  if (!existsSync(join(root, 'index.html'))) throw new Error(`switchboard-web: no index.html in ${root}; run npm run build`)
  if (!existsSync(join(sdk, 'index.js'))) throw new Error(`switchboard-web: no SDK build in ${sdk}; run npm run build`)
  await fastify.register(fastifyStatic, { root, prefix: '/', wildcard: false, index: ['index.html'] })
  await fastify.register(fastifyStatic, { root: sdk, prefix: '/sdk/', wildcard: false, decorateReply: false, allowedPath: (path) => path.endsWith('.js') })
}

export const webPlugin = fp(switchboardWeb, { name: 'switchboard-web', fastify: '5.x' })
export default webPlugin
