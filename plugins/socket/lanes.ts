/**
 * The ordering rule for one connection's membership operations (join, leave,
 * subscribe, unsubscribe, and the `left` events that stop it listening): the
 * operations on one channel run one at a time, in the order they arrived, so
 * whatever the interleaving the channel ends in the state the last one asked
 * for. Operations on different channels do not wait for each other.
 *
 * Keyed by the channel string, whatever its kind. A lane costs nothing once
 * idle: its entry is dropped when its last task settles.
 */
export class Lanes {
  /** per key, a promise that settles when the last task submitted so far has */
  readonly #tails = new Map<string, Promise<void>>()

  /**
   * Runs `task` after every task submitted before it on `key` has settled
   * (fulfilled or rejected); at once when the lane is idle. Resolves or
   * rejects as the task does.
   */
  run<T> (key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key)
    const result = previous === undefined ? task() : previous.then(task)
    const tail = result.then(settled, settled)
    this.#tails.set(key, tail)
    tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    }, settled)
    return result
  }

  /** Keys with a task running or waiting. */
  get busy (): number {
    return this.#tails.size
  }
}

function settled (): void {}
