/**
 * switchboard-web: serves the chat page (client/web) at `/`. The page talks to
 * the registry on the same origin, so it is registered beside the registry.
 */
import fp from 'fastify-plugin'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import { existsSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** client/web of this package, from the sources (tests) or from dist/ (npm start). */
export function webRoot (): string {
  let root = dirname(dirname(dirname(fileURLToPath(import.meta.url))))
  if (basename(root) === 'dist') root = dirname(root)
  return join(root, 'client', 'web')
}

async function switchboardWeb (fastify: FastifyInstance, options: { root?: string }): Promise<void> {
  const root = options.root ?? webRoot()
  if (!existsSync(join(root, 'index.html'))) throw new Error(`switchboard-web: no index.html in ${root}`)
  await fastify.register(fastifyStatic, { root, prefix: '/', wildcard: false, index: ['index.html'] })
}

export const webPlugin = fp(switchboardWeb, { name: 'switchboard-web', fastify: '5.x' })
export default webPlugin
