/**
 * Request loggers made on first use. Fastify gives every request a child
 * logger (bindings `{ reqId }`); with pino and redaction configured, making
 * one costs a few microseconds, and a registry at the default `info` level
 * or above `warn` writes nothing for most requests. `lazyChildLogger` is a
 * Fastify `childLoggerFactory` whose logger makes the real child only when a
 * line is actually written at an enabled level (or a child of it is asked
 * for), so the lines, their bindings and their redaction are unchanged.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Bindings, ChildLoggerOptions, Logger } from 'pino'

type Method = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'

class LazyLogger implements FastifyBaseLogger {
  readonly #parent: FastifyBaseLogger
  readonly #bindings: Bindings
  readonly #options: ChildLoggerOptions
  #child: FastifyBaseLogger | undefined

  constructor (parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
  }

  get #real (): FastifyBaseLogger {
    this.#child ??= this.#parent.child(this.#bindings, this.#options)
    return this.#child
  }

  get level (): string {
    return this.#child?.level ?? this.#options.level ?? this.#parent.level
  }

  set level (level: string) {
    this.#real.level = level
  }

  #enabled (method: Method): boolean {
    // Only pino has level numbers; for any other logger, make the child and let it decide.
    const values = (this.#parent as Partial<Pick<Logger, 'levels'>>).levels?.values
    if (values === undefined) return true
    return (values[method] ?? 0) >= (values[this.level] ?? Infinity)
  }

  #log (method: Method, args: unknown[]): void {
    if (!this.#enabled(method)) return
    const real = this.#real
    ;(real[method] as (...a: unknown[]) => void).apply(real, args)
  }

  // Methods on the prototype, not closures per request.
  fatal (...args: unknown[]): void { this.#log('fatal', args) }
  error (...args: unknown[]): void { this.#log('error', args) }
  warn (...args: unknown[]): void { this.#log('warn', args) }
  info (...args: unknown[]): void { this.#log('info', args) }
  debug (...args: unknown[]): void { this.#log('debug', args) }
  trace (...args: unknown[]): void { this.#log('trace', args) }
  silent (): void {}

  child (bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#real.child(bindings, options)
  }
}

/** Fastify's `childLoggerFactory` option: request loggers that cost nothing until they write. */
export function lazyChildLogger (logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyLogger(logger, bindings, options)
}
