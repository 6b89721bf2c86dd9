import type { Socket } from 'node:net'
import type { Redis } from 'ioredis'
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
 * Bytes read so far on a standalone connection's current socket (undefined for a Cluster, which has
 * one per node): a reply that waits behind incoming data still shows the server is alive.
 */
function received(client: RedisClient): { socket: object; bytes: number } | undefined {
  if (client.isCluster) return undefined
  const socket = (client as Redis).stream as Socket | undefined
  return socket ? { socket, bytes: socket.bytesRead } : undefined
}

const moved = (before: ReturnType<typeof received>, now: ReturnType<typeof received>): boolean =>
  before !== undefined && now !== undefined && before.socket === now.socket && now.bytes > before.bytes

/**
 * Calls `expired` when a reply awaited on `client` has not come within `timeoutMs` of the process's
 * own attention. A busy process is not a hung server, and dropping its connection would throw away
 * what is still in the socket's buffers. So the bound is extended by a short grace (a quarter of it)
 * when the socket received bytes during the last stretch (the reply is queued behind a backlog of
 * messages), and when the event loop was busy for most of it (the request itself may have been written
 * late: auto-pipelining writes on the next turn; the reply may wait behind a long handler), then judged
 * after the I/O phase, so what arrived meanwhile is read first. Busy extensions stop at four times the
 * bound, so a hung server is still noticed by a process that never idles; an idle process on a
 * saturated machine is not extended (event loop utilization counts its own work, not the machine's).
 */
export function awaitReply(client: RedisClient, timeoutMs: number, expired: () => void): () => void {
  let timer: NodeJS.Timeout | undefined
  let immediate: NodeJS.Immediate | undefined
  let cancelled = false
  const grace = Math.max(timeoutMs / 4, MIN_GRACE_MS)
  const busyUntil = performance.now() + BUSY_EXTENSION_FACTOR * timeoutMs
  const arm = (ms: number) => {
    const mark = received(client)
    const loop = performance.eventLoopUtilization()
    const judge = (busy: boolean) => {
      if (cancelled) return
      if (busy || moved(mark, received(client))) arm(grace)
      else expired()
    }
    timer = setTimeout(() => {
      // Mostly idle: judged now, before a command timeout of the same length rejects the request.
      if (performance.eventLoopUtilization(loop).utilization < BUSY_UTILIZATION) return judge(false)
      immediate = setImmediate(() => judge(performance.now() < busyUntil))
    }, ms)
    timer.unref()
  }
  arm(timeoutMs)
  return () => {
    cancelled = true
    clearTimeout(timer)
    if (immediate !== undefined) clearImmediate(immediate)
  }
}

const MIN_GRACE_MS = 50
/** Share of a bound the event loop spent working, above which the process, not the server, is slow. */
const BUSY_UTILIZATION = 0.5
const BUSY_EXTENSION_FACTOR = 4

/**
 * PINGs each ready connection every `intervalMs` and calls it hung when no answer comes within
 * `timeoutMs`. A server stopped with SIGSTOP keeps its sockets open, so without this nothing notices
 * until TCP gives up (minutes). A hung connection the adapter owns is dropped and opened again (ioredis
 * reconnects), which also finds a server that moved; one of the user's is only marked until it answers.
 * At most one PING per connection is outstanding.
 *
 * A busy process is not a hung server: when the bound runs out, what the socket received meanwhile is
 * read first (the check waits for the I/O phase after a stalled event loop), and a connection that
 * received bytes since the PING (its answer queued behind a backlog of messages) gets another bound.
 * Dropping such a connection would throw away the messages still in its buffers.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined
  // The outstanding PING per connection (a token) and how to stop the bound on its answer.
  private readonly waiting = new Map<Watched['role'], { ping: object; cancel: () => void }>()

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
    for (const { cancel } of this.waiting.values()) cancel()
    this.waiting.clear()
  }

  private beat(): void {
    for (const { client, role, owned } of this.watched) {
      if (client.status !== 'ready' || this.waiting.has(role)) continue
      const ping = {}
      const cancel = awaitReply(client, this.timeoutMs, () => {
        const cause = new Error(`no answer to PING within ${this.timeoutMs} ms (the server may be hung)`)
        // Owned: a fresh socket gets the next PING; the user's: wait for this one's late answer.
        if (owned) this.waiting.delete(role)
        this.events.missed(role, cause)
        if (owned) client.disconnect(true)
      })
      this.waiting.set(role, { ping, cancel })
      client.ping().then(
        () => this.settled(role, ping, true),
        () => this.settled(role, ping, false)
      )
    }
  }

  private settled(role: Watched['role'], ping: object, answered: boolean): void {
    const current = this.waiting.get(role)
    // A late answer from a socket already replaced says nothing about the new one.
    if (current?.ping !== ping) return
    current.cancel()
    this.waiting.delete(role)
    if (answered) this.events.answered(role)
  }
}
