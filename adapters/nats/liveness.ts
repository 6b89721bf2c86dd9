import type { NatsConnection } from 'nats'

/** How often the adapter checks a connection it opened, and how many unanswered PINGs make it stale. */
export interface LivenessSettings {
  /** Ms between two checks (`natsConnectionOptions.pingInterval`). */
  intervalMs: number
  /** Checks in a row that may end with a PING unanswered and nothing received (`maxPingOut`). */
  maxPingOut: number
}

/**
 * Tells a hung server (SIGSTOP, a silent network) from a busy client. The server's PONG travels in the
 * same stream as the messages, behind everything queued for this client, so a subscriber seconds behind
 * reads it late, and the client's own ping check would drop a live connection and every message in flight
 * with it. Here any message received counts as a sign of life as much as a PONG does.
 *
 * Every `intervalMs`: messages received since the last check prove the server alive (no PING needed);
 * otherwise a PING is sent (a flush), unless `maxPingOut` of them are already unanswered: then the
 * connection is stale. That verdict waits for the I/O phase, so what arrived while the event loop was
 * busy is read first. A hung server is noticed within `(maxPingOut + 1) × intervalMs` of its last word,
 * as with the client's own check.
 */
export class Liveness {
  private timer: NodeJS.Timeout | undefined
  private immediate: NodeJS.Immediate | undefined
  /** Messages and bytes received at the last check. */
  private received = 0
  private answered = false
  private unanswered = 0
  /** Bumped by start() and pause(): a PONG owed by an earlier socket says nothing about this one. */
  private round = 0

  /** `stale` is called at most once per start(), with what was found. */
  constructor(
    private readonly nc: NatsConnection,
    private readonly settings: LivenessSettings,
    private readonly stale: (why: string) => void
  ) {}

  /** Starts checking (again, after a reconnect), from a clean slate. */
  start(): void {
    this.pause()
    this.received = this.count()
    this.timer = setInterval(() => this.check(), this.settings.intervalMs)
    this.timer.unref()
  }

  /** Stops checking until the next start(): the connection is down, replaced or closed. */
  pause(): void {
    clearInterval(this.timer)
    if (this.immediate !== undefined) clearImmediate(this.immediate)
    this.timer = this.immediate = undefined
    this.round++
    this.unanswered = 0
    this.answered = false
  }

  // Messages as well as bytes, so that empty messages count too.
  private count(): number {
    const { inMsgs, inBytes } = this.nc.stats()
    return inMsgs + inBytes
  }

  private check(): void {
    if (this.immediate !== undefined) return
    const received = this.count()
    const messages = received !== this.received
    this.received = received
    if (messages || this.answered) this.unanswered = 0
    this.answered = false
    if (this.unanswered < this.settings.maxPingOut) {
      if (!messages) this.ping()
      return
    }
    const round = this.round
    this.immediate = setImmediate(() => {
      this.immediate = undefined
      // Read meanwhile: the next check starts over.
      if (round !== this.round || this.answered || this.count() !== this.received) return
      this.pause()
      const { intervalMs, maxPingOut } = this.settings
      this.stale(
        `no answer to a PING for ${maxPingOut * intervalMs} ms and no message meanwhile ` +
          `(pingInterval ${intervalMs}, maxPingOut ${maxPingOut}): the server or the network is hung`
      )
    })
  }

  private ping(): void {
    this.unanswered++
    const round = this.round
    this.nc.flush().then(
      () => {
        if (round === this.round) this.answered = true
      },
      // Rejected when the connection drops or closes: the status stream tells that.
      () => undefined
    )
  }
}
