import { connect, type ConnectionOptions, type NatsConnection } from 'nats'
import { DEFAULT_RECONNECT_WAIT_MS } from './connection-options'

/**
 * Opens a NATS connection, retrying until it works or is cancelled. Once open, reconnecting is the
 * client's own job. Why not the client's `waitOnFirstConnect`: its retry loop cannot be stopped
 * before it connects, so closing an app whose server never came up would leave it running forever.
 */
export class Opener {
  private cancelled = false
  private timer: NodeJS.Timeout | undefined
  private wakeUp: (() => void) | undefined

  /** `failed` hears about each failed attempt and how long until the next one. */
  constructor(
    private readonly options: ConnectionOptions,
    private readonly failed: (cause: unknown, retryInMs: number) => void
  ) {}

  /** Resolves with an open connection, or undefined once cancelled. */
  async open(): Promise<NatsConnection | undefined> {
    const retryInMs = this.options.reconnectTimeWait ?? DEFAULT_RECONNECT_WAIT_MS
    while (!this.cancelled) {
      try {
        const nc = await connect(this.options)
        if (!this.cancelled) return nc
        await nc.close()
      } catch (cause) {
        this.failed(cause, retryInMs)
        await new Promise<void>((resolve) => {
          this.wakeUp = resolve
          this.timer = setTimeout(resolve, retryInMs)
          this.timer.unref()
        })
      }
    }
    return undefined
  }

  /** Stops for good: a pending `open()` resolves undefined, and no timer is left behind. */
  cancel(): void {
    this.cancelled = true
    clearTimeout(this.timer)
    this.wakeUp?.()
  }
}
