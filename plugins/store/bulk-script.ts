/**
 * Script calls with hundreds of arguments (the batch scripts). ioredis copies
 * every command's arguments through `Array.prototype.flat`, which on Node 20
 * costs about 0.2 µs per argument: some 60 µs for one batch of a few hundred,
 * more than building the rest of the command. A `BulkScript` hands ioredis its
 * argument array as it is: the command is made empty and given its arguments
 * after (`args` is a public field of ioredis's `Command`), then sent with the
 * public `sendCommand`. On Redis Cluster it goes to the node of its first key,
 * as any other command.
 *
 * Loading the script is done as ioredis's own script commands do it: the first
 * call on each connection is an EVAL carrying the script, later ones EVALSHA.
 * Calls on one connection are answered in order, so batches stay in order
 * even while the script is being loaded (an EVALSHA answered NOSCRIPT and
 * retried would land after batches sent behind it). Only if a node forgets a
 * script it had (SCRIPT FLUSH) is a call retried as an EVAL.
 *
 * What of ioredis's `Command` this relies on, none of it documented: `args` is
 * a plain field read only when the command is routed and written; `name` may
 * change before it is written; `toWritable` is handed the connection's socket,
 * a new one after a reconnect; `reject` is a field ioredis calls with an error
 * reply. ioredis's own script commands (`built/Script.js`) use the same hooks.
 * test/bulk-script.test.ts pins each, so an upgrade that changes one fails
 * there first. Worth it: a 301-argument call costs the client ~40-45 µs of CPU
 * this way against ~60-100 µs through the constructor (Node 20, measured
 * alone, alternated); on the relay path that is a few per cent of a socket
 * server's CPU, too little for `npm run bench -- relay` to tell apart on a busy
 * machine (three alternated pairs: 21,429 / 22,222 / 22,642 against 20,761 /
 * 22,901 / 23,529 deliveries per CPU-second).
 */
import { createHash } from 'node:crypto'
import { Command } from 'ioredis'
import type { Cluster, Redis } from 'ioredis'

export class BulkScript {
  readonly #lua: string
  readonly #sha: string
  /** connections (ioredis hands `toWritable` its socket) that have been sent the script */
  readonly #loaded = new WeakSet<object>()

  constructor (lua: string) {
    this.#lua = lua
    this.#sha = createHash('sha1').update(lua).digest('hex')
  }

  /** `args`: the key count, the keys, then the arguments, all strings (nothing converts them on this path). */
  async run<T> (client: Redis | Cluster, args: readonly string[]): Promise<T> {
    try {
      return await this.#send<T>(client, args)
    } catch (err) {
      if (!isNoScript(err)) throw err
      // The node lost the script: the connection is no longer marked, so this call carries it again.
      return await this.#send<T>(client, args)
    }
  }

  async #send<T> (client: Redis | Cluster, args: readonly string[]): Promise<T> {
    const keyPrefix = client.options.keyPrefix
    const plain = keyPrefix === undefined || keyPrefix === ''
    // A client with a key prefix (a host app's) has the arguments go through the constructor, which prefixes the keys.
    const command = new ScriptCommand(this.#lua, this.#loaded, plain ? [] : [this.#sha, ...args], plain ? undefined : keyPrefix)
    if (plain) command.args = [this.#sha, ...args]
    client.sendCommand(command)
    return await (command.promise as Promise<T>)
  }
}

/** Redis's answer to an EVALSHA of a script it does not have. */
function isNoScript (err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT')
}

/** EVALSHA, or EVAL with the script on a connection that has not been sent it yet. */
class ScriptCommand extends Command {
  readonly #lua: string
  readonly #loaded: WeakSet<object>
  #socket: object | undefined

  constructor (lua: string, loaded: WeakSet<object>, args: string[], keyPrefix: string | undefined) {
    super('evalsha', args, { replyEncoding: 'utf8', ...(keyPrefix !== undefined ? { keyPrefix } : {}) })
    this.#lua = lua
    this.#loaded = loaded
    const reject = this.reject
    this.reject = (err: Error) => {
      // The connection it went on has lost the script (SCRIPT FLUSH): carry it next time.
      if (isNoScript(err) && this.#socket !== undefined) loaded.delete(this.#socket)
      reject(err)
    }
  }

  override toWritable (socket: object): string | Buffer {
    this.#socket = socket
    if (!this.#loaded.has(socket)) {
      this.#loaded.add(socket)
      this.name = 'eval'
      this.args[0] = this.#lua
    }
    return super.toWritable(socket)
  }
}
