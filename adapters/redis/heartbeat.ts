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
}

/**
 * PINGs each ready connection every `intervalMs` and calls it hung when no answer comes within
 * `timeoutMs`. A server stopped with SIGSTOP keeps its sockets open, so without this nothing notices
 * until TCP gives up (minutes). A hung connection the adapter owns is dropped and opened again (ioredis
 * reconnects), which also finds a server that moved; one of the user's is only marked until it answers.
 * At most one PING per connection is outstanding.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined
  private readonly waiting = new Map<Watched['role'], NodeJS.Timeout>()

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
    for (const timer of this.waiting.values()) clearTimeout(timer)
    this.waiting.clear()
  }

  private beat(): void {
    for (const { client, role, owned } of this.watched) {
      if (client.status !== 'ready' || this.waiting.has(role)) continue
      const timer = setTimeout(() => {
        const cause = new Error(`no answer to PING within ${this.timeoutMs} ms (the server may be hung)`)
        // Owned: a fresh socket gets the next PING; the user's: wait for this one's late answer.
        if (owned) this.waiting.delete(role)
        this.events.missed(role, cause)
        if (owned) client.disconnect(true)
      }, this.timeoutMs)
      timer.unref()
      this.waiting.set(role, timer)
      client.ping().then(
        () => this.settled(role, timer, true),
        () => this.settled(role, timer, false)
      )
    }
  }

  private settled(role: Watched['role'], timer: NodeJS.Timeout, answered: boolean): void {
    clearTimeout(timer)
    // A late answer from a socket already replaced says nothing about the new one.
    if (this.waiting.get(role) !== timer) return
    this.waiting.delete(role)
    if (answered) this.events.answered(role)
  }
}
