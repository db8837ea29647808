/**
 * Gathers requests made during one turn of the event loop and runs them
 * together (setImmediate), in batches of at most `maxBatch` (and `maxWeight`): under load a
 * batch holds everything that arrived meanwhile, and an idle process sends
 * each request on its own, one turn later. The Redis store batches appends
 * and reservations this way, so Redis's per-script cost and the client's
 * per-command cost are paid once per batch instead of once per request.
 */
interface Waiting<I, R> {
  readonly input: I
  resolve (result: R): void
  reject (err: unknown): void
}

export interface BatcherOptions<I> {
  /** at most this many requests per run (default 256) */
  readonly maxBatch?: number
  /** and at most this much weight per run, by `weigh` (e.g. bytes), though a run always takes at least one request */
  readonly maxWeight?: number
  readonly weigh?: (input: I) => number
}

export class Batcher<I, R> {
  readonly #run: (inputs: readonly I[]) => Promise<Array<R | Error>>
  readonly #maxBatch: number
  readonly #maxWeight: number
  readonly #weigh: ((input: I) => number) | undefined
  #queue: Array<Waiting<I, R>> = []
  #scheduled = false

  /**
   * `run` performs one batch and returns one result per input, in order; an Error in its place fails that
   * input alone, and if `run` throws, every input of the batch fails.
   */
  constructor (run: (inputs: readonly I[]) => Promise<Array<R | Error>>, options: BatcherOptions<I> = {}) {
    this.#run = run
    this.#maxBatch = options.maxBatch ?? 256
    this.#maxWeight = options.maxWeight ?? Infinity
    this.#weigh = options.weigh
  }

  // Not async: on the hot path, a function that returns its promise spares a promise and a turn of the microtask queue.
  add (input: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ input, resolve, reject })
      if (this.#scheduled) return
      this.#scheduled = true
      setImmediate(this.#flush)
    })
  }

  readonly #flush = (): void => {
    this.#scheduled = false
    const queue = this.#queue
    this.#queue = []
    let start = 0
    while (start < queue.length) {
      let end = start + 1
      let weight = this.#weigh?.(queue[start]?.input as I) ?? 0
      while (end < queue.length && end - start < this.#maxBatch) {
        const next = this.#weigh?.(queue[end]?.input as I) ?? 0
        if (weight + next > this.#maxWeight) break
        weight += next
        end++
      }
      this.#send(queue.slice(start, end))
      start = end
    }
  }

  #send (batch: Array<Waiting<I, R>>): void {
    this.#run(batch.map((w) => w.input)).then((results) => {
      batch.forEach((w, i) => {
        const result = results[i]
        if (result === undefined) w.reject(new Error(`the batch returned ${results.length} results for ${batch.length} requests`))
        else if (result instanceof Error) w.reject(result)
        else w.resolve(result)
      })
    }, (err: unknown) => { for (const w of batch) w.reject(err) })
  }
}
