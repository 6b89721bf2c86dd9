/**
 * Collects what is handed over during one tick and passes it on in one go, at `process.nextTick`.
 *
 * Why: a service call emits its event from deep inside a chain of promise jobs, so the events of a
 * burst of calls reach an adapter one by one, interleaved with other jobs. A driver that writes to
 * its socket at the end of each job (nats.js does, through `queueMicrotask`) then makes one write,
 * one system call and one broker read per event. `nextTick` runs once every pending promise job is
 * done, so all the events of the burst go to the driver together and leave in a single write.
 */
export class TickBatch<T> {
  private items: T[] = []
  private pending: Promise<void> | undefined
  private resolve: () => void = () => undefined
  private reject: (cause: unknown) => void = () => undefined

  /** `flush` gets the items of a tick in the order they were added; its outcome is the batch's. */
  constructor(private readonly flush: (items: T[]) => void | Promise<void>) {}

  /** Adds an item. The promise (shared by the whole batch) settles once `flush` for it has. */
  add(item: T): Promise<void> {
    this.items.push(item)
    if (this.pending === undefined) {
      this.pending = new Promise<void>((resolve, reject) => {
        this.resolve = resolve
        this.reject = reject
      })
      process.nextTick(() => this.run())
    }
    return this.pending
  }

  private run(): void {
    const { items, resolve, reject } = this
    this.items = []
    this.pending = undefined
    try {
      const outcome = this.flush(items)
      if (outcome === undefined) resolve()
      else outcome.then(resolve, reject)
    } catch (cause) {
      reject(cause)
    }
  }
}
