/**
 * A store whose steps can be held, to hit a race window exactly instead of sleeping for a chosen
 * number of ms and hoping: the test arms a hold on one store call for one channel, learns when the
 * server has reached it, does what must happen inside the window (publish), then lets the server
 * go on. The seam is the store plugin's public `{ store }` option (a socket server given this
 * wrapper instead of its own store): nothing in the server knows it is being held.
 */
import type { Store } from '../../plugins/store/index.js'

/** The store calls a hold can pause (and that are recorded), all of them `(channel, …)`. */
export type HeldCall = 'subscribe' | 'unsubscribe' | 'recover' | 'position' | 'read'

export interface Hold {
  /** settles when the server makes the call (`before`) or has its result (`after`), and is paused there */
  readonly reached: Promise<void>
  /** lets the paused call go on */
  release (): void
}

export interface HeldStore {
  readonly store: Store
  /** the held-able calls made so far, as `call channel`, in order (what the server did, to wait for) */
  readonly calls: string[]
  /** pauses the next `call` on `channel`, before it reaches the real store or after it returns; once */
  hold (call: HeldCall, channel: string, when: 'before' | 'after'): Hold
}

interface Armed { readonly when: 'before' | 'after', arrive (): void, readonly released: Promise<void> }

const HELD_CALLS: ReadonlySet<string | symbol> = new Set<HeldCall>(['subscribe', 'unsubscribe', 'recover', 'position', 'read'])

export function heldStore (inner: Store): HeldStore {
  const armed = new Map<string, Armed>()
  const calls: string[] = []
  const store = new Proxy(inner, {
    get (target, property) {
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      const method = value as (...args: unknown[]) => Promise<unknown>
      if (!HELD_CALLS.has(property)) return method.bind(target)
      return async (channel: string, ...rest: unknown[]): Promise<unknown> => {
        const key = `${String(property)} ${channel}`
        calls.push(key)
        const hold = armed.get(key)
        if (hold !== undefined) armed.delete(key)
        if (hold?.when === 'before') { hold.arrive(); await hold.released }
        const result = await method.call(target, channel, ...rest)
        if (hold?.when === 'after') { hold.arrive(); await hold.released }
        return result
      }
    }
  })
  return {
    store,
    calls,
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
