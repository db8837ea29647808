/**
 * Every plugin's options are checked the same way, once, at registration: a
 * TypeBox schema compiled when the plugin's module loads, the first problem
 * reported as SB_ERR_INVALID_OPTIONS naming the option, and the result frozen
 * (fastify `lib/initial-config-validation.js` does the same for its own).
 */
import type { Static, TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { InvalidOptionsError } from './errors.js'

export type Frozen<T> = T extends (...args: never[]) => unknown ? T
  : T extends ReadonlyArray<infer E> ? ReadonlyArray<Frozen<E>>
    : T extends object ? { readonly [K in keyof T]: Frozen<T[K]> }
      : T

/** `plugin`: the plugin's name, as errors show it. Returns a check that throws or gives back its input, deeply frozen. */
export function optionsValidator<S extends TSchema> (plugin: string, schema: S): <V extends Static<S>>(value: V) => Frozen<V> {
  const compiled = TypeCompiler.Compile(schema)
  return (value) => {
    const error = compiled.Errors(value).First()
    if (error === undefined) return deepFreeze(value) as Frozen<typeof value>
    const name = error.path.slice(1).replaceAll('/', '.')
    // A schema may say in words what it expects (`description`); TypeBox's own message otherwise.
    const description = (error.schema as { description?: unknown }).description
    throw new InvalidOptionsError(plugin, typeof description === 'string' ? `${name} must be ${description}` : `${name} ${error.message}`)
  }
}

function deepFreeze<T> (value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value
  for (const inner of Object.values(value)) deepFreeze(inner)
  return Object.freeze(value)
}
