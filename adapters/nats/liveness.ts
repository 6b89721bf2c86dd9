import type { Socket } from 'node:net'
import type { NatsConnection } from 'nats'

/** How often the adapter checks a connection it opened, and how many unanswered PINGs make it stale. */
export interface LivenessSettings {
  /** Ms between two checks (`natsConnectionOptions.pingInterval`). */
  intervalMs: number
  /** Checks in a row that may end with a PING unanswered and nothing heard (`maxPingOut`). */
  maxPingOut: number
}

/** What a connection has shown of its server at one moment. */
interface Mark {
  /** Messages and bytes received (messages as well, so that empty ones count too). */
  received: number
  /** Bytes the kernel has taken from the socket, and whether more wait in Node's buffer. */
  sent: number
  backlog: boolean
}

// nats.js 2.29 keeps its socket at `protocol.transport.socket`: not public API, so each step may be absent.
type Internals = { protocol?: { transport?: { socket?: Partial<Socket> } } }

function markOf(nc: NatsConnection): Mark {
  const { inMsgs, inBytes } = nc.stats()
  const socket = (nc as unknown as Internals).protocol?.transport?.socket
  const { bytesWritten, writableLength } = socket ?? {}
  const known = typeof bytesWritten === 'number' && typeof writableLength === 'number'
  return {
    received: inMsgs + inBytes,
    sent: known ? bytesWritten - writableLength : 0,
    backlog: known && writableLength > 0
  }
}

/**
 * Whether the server showed life between two marks: it sent messages, or it read what this client sends.
 * Bytes the kernel took count only when it had refused more before (Node's buffer held a backlog): then
 * the kernel's buffers were full, and only the server reading makes room. A server that holds a fast
 * publisher back (while its subscribers are behind) reads slowly, and the PONG to a PING waits behind
 * everything the publisher wrote before it.
 */
const heard = (before: Mark, now: Mark): boolean =>
  now.received !== before.received || (before.backlog && now.sent > before.sent)

/**
 * Tells a hung server (SIGSTOP, a silent network) from a busy client. The server's PONG travels in the
 * same stream as the messages, behind everything queued for this client, so a subscriber seconds behind
 * reads it late, and the client's own ping check would drop a live connection and every message in flight
 * with it. Here any message received counts as a sign of life as much as a PONG does, and so does a
 * backlog of outgoing bytes the server keeps reading (see heard()).
 *
 * Every `intervalMs`: messages received since the last check prove the server alive (no PING needed);
 * otherwise a PING is sent (a flush), unless `maxPingOut` of them are already unanswered with nothing
 * heard: then the connection is stale. That verdict waits for the I/O phase, so what arrived while the
 * event loop was busy is read first. A hung server is noticed within `(maxPingOut + 1) × intervalMs` of
 * its last word, as with the client's own check.
 */
export class Liveness {
  private timer: NodeJS.Timeout | undefined
  private immediate: NodeJS.Immediate | undefined
  /** What the connection showed at the last check. */
  private mark: Mark = { received: 0, sent: 0, backlog: false }
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
    this.mark = markOf(this.nc)
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

  private check(): void {
    if (this.immediate !== undefined) return
    const before = this.mark
    const now = (this.mark = markOf(this.nc))
    if (this.answered || heard(before, now)) this.unanswered = 0
    this.answered = false
    if (this.unanswered < this.settings.maxPingOut) {
      if (now.received === before.received) this.ping()
      return
    }
    const round = this.round
    this.immediate = setImmediate(() => {
      this.immediate = undefined
      // Heard meanwhile: the next check starts over.
      if (round !== this.round || this.answered || heard(now, markOf(this.nc))) return
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
