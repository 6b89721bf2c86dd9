import type { RedisClient } from './clients'

/** One connection the heartbeat watches. */
export interface Watched {
  client: RedisClient
  role: 'pub' | 'sub'
  /** The adapter opened it, so it may replace a hung socket with a fresh one. */
  owned: boolean
}

/** What the heartbeat tells the adapter. */
export interface HeartbeatEvents {
  /** `role`'s connection did not answer a PING within the timeout. */
  missed(role: Watched['role'], cause: Error): void
  /** `role`'s connection answered a PING. */
  answered(role: Watched['role']): void
  /**
   * A number that grows whenever `role`'s connection hears from the server (a message, a reply). A PING
   * waits behind what the server sent before it: a subscriber far behind a burst hears its answer late,
   * yet is not hung, and dropping its socket would lose everything in flight to it.
   */
  activity(role: Watched['role']): number
}

/** The PING a connection waits for, and the activity seen when it was sent. */
interface Wait {
  timer: NodeJS.Timeout | undefined
  readonly seen: number
}

/**
 * PINGs each ready connection every `intervalMs` and calls it hung when no answer comes within
 * `timeoutMs`. A server stopped with SIGSTOP keeps its sockets open, so without this nothing notices
 * until TCP gives up (minutes). A hung connection the adapter owns is dropped and opened again (ioredis
 * reconnects), which also finds a server that moved; one of the user's is only marked until it answers.
 * At most one PING per connection is outstanding. A connection that heard from the server while its
 * PING was unanswered is busy, not hung: the PING is forgotten and the next beat sends another.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined
  private readonly waiting = new Map<Watched['role'], Wait>()

  constructor(
    private readonly watched: Watched[],
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly events: HeartbeatEvents
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.timer !== undefined) return
    this.timer = setInterval(() => this.beat(), this.intervalMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    for (const wait of this.waiting.values()) clearTimeout(wait.timer)
    this.waiting.clear()
  }

  private beat(): void {
    for (const watched of this.watched) {
      const { client, role } = watched
      if (client.status !== 'ready' || this.waiting.has(role)) continue
      const wait: Wait = { timer: undefined, seen: this.events.activity(role) }
      this.waiting.set(role, wait)
      this.arm(watched, wait)
      client.ping().then(
        () => this.settled(role, wait, true),
        // ioredis' own command timeout (on the connections the adapter opens) is not a verdict: the
        // heartbeat's timer, which knows whether the server is still sending, decides.
        (error: unknown) => {
          if (!(error instanceof Error && error.message === 'Command timed out'))
            this.settled(role, wait, false)
        }
      )
    }
  }

  private arm(watched: Watched, wait: Wait): void {
    // Judged after the event loop's next poll: a process that was busy past the timeout has the answer
    // (or the messages before it) waiting in its socket, read only after the timers.
    wait.timer = setTimeout(() => setImmediate(() => this.judge(watched, wait)), this.timeoutMs)
    wait.timer.unref()
  }

  private judge(watched: Watched, wait: Wait): void {
    const { client, role, owned } = watched
    // Answered meanwhile, or stopped.
    if (this.waiting.get(role) !== wait) return
    // Heard from the server meanwhile: alive, its answer queued behind what it sent. The next beat sends
    // a new PING (this one's late answer is ignored).
    if (this.events.activity(role) !== wait.seen) {
      this.waiting.delete(role)
      return
    }
    const cause = new Error(`no answer to PING within ${this.timeoutMs} ms (the server may be hung)`)
    // Owned: a fresh socket gets the next PING; the user's: wait for this one's late answer.
    if (owned) this.waiting.delete(role)
    this.events.missed(role, cause)
    if (owned) client.disconnect(true)
  }

  private settled(role: Watched['role'], wait: Wait, answered: boolean): void {
    clearTimeout(wait.timer)
    // A late answer from a socket already replaced says nothing about the new one.
    if (this.waiting.get(role) !== wait) return
    this.waiting.delete(role)
    if (answered) this.events.answered(role)
  }
}
