/**
 * A store whose calls are recorded and can be held, to know what a server has done and to hit a
 * race window exactly, instead of sleeping for a chosen number of ms and hoping: the test arms a
 * hold on one store call for one channel, learns when the server has reached it, does what must
 * happen inside the window (publish), then lets the server go on. The seam is the store plugin's
 * public `{ store }` option (a socket server given this wrapper instead of its own store; see
 * StackOptions.store and .held): nothing in the server knows it is watched.
 */
import type { Store } from '../../plugins/store/index.js'

/** A store method whose first argument is a channel (or another name): those are recorded and can be held. */
export type StoreCall = keyof Store & string

export interface Hold {
  /** settles when the server makes the call (`before`) or has its result (`after`), and is paused there */
  readonly reached: Promise<void>
  /** lets the paused call go on */
  release (): void
}

export interface HeldStore {
  readonly store: Store
  /** calls made so far, as `call channel`, in the order they were made */
  readonly calls: string[]
  /** calls finished so far (resolved or rejected), as `call channel`: what the server has done */
  readonly done: string[]
  /** pauses the next `call` on `channel`, before it reaches the real store or after it returns; once */
  hold (call: StoreCall, channel: string, when: 'before' | 'after'): Hold
}

interface Armed { readonly when: 'before' | 'after', arrive (): void, readonly released: Promise<void> }

export function heldStore (inner: Store): HeldStore {
  const armed = new Map<string, Armed>()
  const calls: string[] = []
  const done: string[] = []
  const store = new Proxy(inner, {
    get (target, property) {
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      const method = value as (...args: unknown[]) => unknown
      return (...args: unknown[]): unknown => {
        if (typeof args[0] !== 'string') return method.apply(target, args)
        const key = `${String(property)} ${args[0]}`
        calls.push(key)
        const hold = armed.get(key)
        if (hold === undefined) {
          const result = method.apply(target, args)
          if (!(result instanceof Promise)) { done.push(key); return result }
          return result.finally(() => { done.push(key) })
        }
        armed.delete(key)
        return (async () => {
          try {
            if (hold.when === 'before') { hold.arrive(); await hold.released }
            const result = await method.apply(target, args)
            if (hold.when === 'after') { hold.arrive(); await hold.released }
            return result
          } finally {
            done.push(key)
          }
        })()
      }
    }
  })
  return {
    store,
    calls,
    done,
    hold: (call, channel, when) => {
      let arrive: () => void = () => {}
      let release: () => void = () => {}
      const reached = new Promise<void>((resolve) => { arrive = resolve })
      const released = new Promise<void>((resolve) => { release = resolve })
      armed.set(`${call} ${channel}`, { when, arrive, released })
      return { reached, release }
    }
  }
}
