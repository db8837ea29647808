/**
 * Script calls with hundreds of arguments (the batch scripts). ioredis copies
 * every command's arguments through `Array.prototype.flat`, which on Node 20
 * costs about 0.2 µs per argument: some 60 µs for one batch of a few hundred,
 * more than building the rest of the command. A `BulkScript` hands ioredis its
 * argument array as it is: the command is made empty and given its arguments
 * after (`args` is a public field of ioredis's `Command`), then sent with the
 * public `sendCommand`. Like ioredis's own script commands it sends EVALSHA,
 * and EVAL when the node does not know the script yet (a restart, a
 * failover, a new Cluster node). On Redis Cluster the command goes to the
 * node of its first key, as any other.
 */
import { createHash } from 'node:crypto'
import { Command } from 'ioredis'
import type { Cluster, Redis } from 'ioredis'

export class BulkScript {
  readonly #lua: string
  readonly #sha: string

  constructor (lua: string) {
    this.#lua = lua
    this.#sha = createHash('sha1').update(lua).digest('hex')
  }

  /** `args`: the key count, the keys, then the arguments, all strings (nothing converts them on this path). */
  async run<T> (client: Redis | Cluster, args: readonly string[]): Promise<T> {
    try {
      return await send<T>(client, 'evalsha', this.#sha, args)
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
      return await send<T>(client, 'eval', this.#lua, args)
    }
  }
}

async function send<T> (client: Redis | Cluster, name: 'evalsha' | 'eval', script: string, args: readonly string[]): Promise<T> {
  const keyPrefix = client.options.keyPrefix
  let command
  if (keyPrefix === undefined || keyPrefix === '') {
    command = new Command(name, [], { replyEncoding: 'utf8' })
    command.args = [script, ...args]
  } else {
    // A client with a key prefix (a host app's): the constructor prefixes the keys, so it must see them.
    command = new Command(name, [script, ...args], { replyEncoding: 'utf8', keyPrefix })
  }
  client.sendCommand(command)
  return await (command.promise as Promise<T>)
}
