import { SyncOversizeError } from '../../src/errors'

// RabbitMQ closes the channel on a body over its `max_message_size`, and says so in the reason.
const OVERSIZE = /larger than configured max size (\d+)/

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)))

/**
 * The publisher confirms of the messages published in one tick, waited for once: one promise for the
 * tick, settled when the broker confirmed them all (and the channel's buffer drained, if it was full),
 * instead of one promise and one bookkeeping entry per message.
 *
 * Each message still gets its own outcome when something goes wrong, read from the batch when it
 * fails (see `causeOf`): a confirmed message resolves (it reached the broker, so it is not sent again),
 * a message over the broker's size limit is rejected with a `SyncOversizeError` (dropped by the core,
 * or it would break every new channel too), a nacked one with its nack, and the rest with the loss, so
 * that the core sends them again after the reconnect.
 */
export class ConfirmBatch {
  private readonly sizes: number[] = []
  // Per message: undefined until the broker answers, true once confirmed, the error of a nack.
  private readonly outcomes: (true | Error | undefined)[] = []
  private unconfirmed = 0
  private open = true
  private waitingForDrain = false
  private settled = false
  private failure: Error | undefined
  private resolve: () => void = () => undefined
  private reject: (cause: Error) => void = () => undefined
  private readonly done: Promise<void>

  /** `onSettled` runs once, when the batch resolved or failed. */
  constructor(private readonly onSettled: () => void) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
  }

  /** Adds a message of `size` bytes; returns its index and the callback to hand to amqplib. */
  add(size: number): { index: number; confirmed: (error: unknown) => void } {
    const index = this.sizes.length
    this.sizes.push(size)
    this.outcomes.push(undefined)
    this.unconfirmed++
    return { index, confirmed: (error: unknown) => this.confirm(index, error) }
  }

  /** The promise of message `index`: resolves if the broker took it, rejects with its own cause if not. */
  message(index: number): Promise<void> {
    return this.done.then(undefined, () => {
      const cause = this.causeOf(index)
      if (cause) throw cause
    })
  }

  /** Message `index` was not sent at all (the publish threw). */
  refused(index: number, error: unknown): void {
    this.confirm(index, error)
  }

  /** The tick is over: no message joins any more. */
  close(): void {
    this.open = false
    this.check()
  }

  /** A publish found the channel's buffer full: the batch also waits for `drain`. */
  awaitDrain(): void {
    this.waitingForDrain = true
  }

  drained(): void {
    this.waitingForDrain = false
    this.check()
  }

  /** The channel is gone: settles every message now (see the class comment). Idempotent. */
  fail(cause: Error): void {
    if (this.settled) return
    this.failure = cause
    this.finish(cause)
  }

  private confirm(index: number, error: unknown): void {
    if (this.settled || this.outcomes[index] !== undefined) return
    this.outcomes[index] = error ? asError(error) : true
    this.unconfirmed--
    this.check()
  }

  private check(): void {
    if (this.settled || this.open || this.unconfirmed > 0 || this.waitingForDrain) return
    const nack = this.outcomes.find((outcome): outcome is Error => outcome instanceof Error)
    this.finish(nack)
  }

  private finish(cause: Error | undefined): void {
    this.settled = true
    this.onSettled()
    if (cause) this.reject(cause)
    else this.resolve()
  }

  private causeOf(index: number): Error | undefined {
    const outcome = this.outcomes[index]
    if (outcome === true) return undefined
    if (outcome instanceof Error) return outcome
    const cause = this.failure ?? new Error('channel closed')
    const match = OVERSIZE.exec(cause.message)
    const size = this.sizes[index]
    if (match && size > Number(match[1])) {
      return new SyncOversizeError(size, Number(match[1]), 'A message to RabbitMQ')
    }
    return cause
  }
}
