/**
 * The readiness of the Redis adapter's two connections, and what the core is told about it: waits for
 * it at startup, follows each connection's events, and reports each change and each distinct failure.
 */
import type { AdapterHooks } from '../../src/adapter'
import { createDebug } from '../../src/engine/debug'
import { SyncConnectionError } from '../../src/errors'
import type { RedisClient } from './clients'
import type { Watched } from './heartbeat'
import type { RedisSettings } from './options'

const debug = createDebug('feathers-fanout/redis')

type Listener = Parameters<RedisClient['on']>[1]
type Waiter = { check: () => boolean; resolve: () => void }

export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/**
 * Why Redis itself may close a pub/sub subscriber: its output buffer limit (redis.conf
 * `client-output-buffer-limit pubsub`, by default 32 MB at once or 8 MB for 60 s) disconnects a
 * subscriber that falls that far behind, and what Redis had queued for it is gone.
 */
export const SUBSCRIBER_CLOSED =
  'Redis closed the subscriber connection: a subscriber that falls behind by more than ' +
  "Redis' client-output-buffer-limit for pubsub (default 32mb 8mb 60) is disconnected (as by " +
  'CLIENT KILL or the server timeout), and messages published meanwhile do not reach this instance ' +
  '(counted as dropped.missed when the next one arrives)'

/**
 * The connections' state as the adapter sees it and as it last told the core; the adapter's connection
 * code (./pubsub.ts) sets the state, this class reports it.
 */
export abstract class RedisStatus {
  readonly target: string
  protected hooks: AdapterHooks | undefined
  protected pubReady = false
  protected subActive = false
  private started = false
  protected closed = false
  /** What the core was last told: both connections up, or which of them is down. */
  protected reported: 'up' | 'publisher down' | 'subscriber down' | 'both down' | undefined
  private lastProblem: string | undefined
  protected lastError: unknown
  /** Why publishing paused when the connection itself is fine (a lost script); cleared when back up. */
  protected pauseReason: string | undefined
  private waiters: Waiter[] = []
  protected readonly attached: [RedisClient, string, Listener][] = []

  constructor(protected readonly settings: RedisSettings) {
    this.target = settings.target
  }

  /** Resolves once both connections are up and the subscription is active; from then on, reports status. */
  protected async untilUp(): Promise<void> {
    const up = () => this.pubReady && this.subActive
    // Checked again after each wait: a connection event may land before this continuation runs, and
    // the core only listens to status reports once this promise has resolved.
    while (!this.closed && !up()) await this.until(up)
    this.started = true
    this.reported = 'up'
  }

  /** Follows a connection's state; a Cluster reports the same events for the cluster as a whole. */
  protected watch(client: RedisClient, role: 'pub' | 'sub'): void {
    const set = (up: boolean) => {
      if (role === 'pub') this.pubReady = up
      else if (!up) this.subActive = false
    }
    this.listen(client, 'ready', () => {
      set(true)
      this.update()
    })
    this.listen(client, 'close', () => {
      // No socket error, no missed PING: the server closed a subscriber that was up.
      if (
        role === 'sub' &&
        this.subActive &&
        this.settings.durable === undefined &&
        this.lastError === undefined
      )
        this.lastError = new Error(SUBSCRIBER_CLOSED)
      set(false)
      this.update()
    })
    this.listen(client, 'end', () => {
      set(false)
      this.problem(new Error(`the ${role} connection ended and will not be retried (see retryStrategy)`))
      this.update()
    })
    this.listen(client, 'error', (error: Error) => this.problem(error))
    this.listen(client, 'node error', (error: Error) => this.problem(error))
  }

  protected listen(client: RedisClient, event: string, listener: Listener): void {
    client.on(event, listener)
    this.attached.push([client, event, listener])
  }

  /** `role`'s connection did not answer in time: it counts as lost until it is up again. */
  protected connectionHung(role: Watched['role'], cause: Error): void {
    debug('%s connection to %s missed a heartbeat', role, this.target)
    this.lastError = cause
    if (role === 'pub') this.pubReady = false
    else this.subActive = false
    this.update()
  }

  /** Tells the core about a change of readiness, once per change, after startup. */
  protected update(): void {
    this.settle()
    const up = this.pubReady && this.subActive
    if (up) {
      this.lastProblem = undefined
      this.lastError = undefined
      this.pauseReason = undefined
    }
    if (this.closed || !this.started) return
    // Told once per change: only the publisher down (an idle timeout on one connection) keeps the
    // subscription; only the subscriber down (cut over its output buffer limit) keeps publishing.
    const next = up
      ? 'up'
      : this.subActive
        ? 'publisher down'
        : this.pubReady
          ? 'subscriber down'
          : 'both down'
    if (next === this.reported) return
    const again = this.reported !== undefined && this.reported !== 'up'
    this.reported = next
    debug('%s at %s', next, this.target)
    if (up) {
      this.hooks?.status('ready')
      return
    }
    const closed = messageOf(this.lastError) === SUBSCRIBER_CLOSED ? ` (${SUBSCRIBER_CLOSED})` : ''
    const paused = next === 'publisher down' ? this.pauseReason : undefined
    const text = paused
      ? `Publishing to Redis at ${this.target} paused: ${paused}`
      : `Lost the connection to Redis at ${this.target}; reconnecting${closed}`
    const error = new SyncConnectionError(this.target, text, { cause: this.lastError })
    this.hooks?.status('reconnecting', error, {
      subscriptionKept: next === 'publisher down',
      publishingKept: next === 'subscriber down'
    })
    if (again) return
    // Also an error event: apps alert on `sync-error`, and a clean close by Redis brings no driver error.
    this.report(text, error)
  }

  /** Reports a driver error once per distinct failure, not once per retry. */
  protected problem(error: unknown): void {
    if (this.closed) return
    this.lastError = error
    const text = `Redis at ${this.target}: ${messageOf(error)}`
    debug(text)
    this.report(text, new SyncConnectionError(this.target, text, { cause: error }))
  }

  private report(text: string, error: SyncConnectionError): void {
    // Numbers masked: retry messages differ only in delays ("Retrying from scratch after 30ms").
    const problem = text.replace(/\d+/g, '#')
    if (problem === this.lastProblem) return
    this.lastProblem = problem
    this.hooks?.error(error)
  }

  protected until(check: () => boolean): Promise<void> {
    if (this.closed || check()) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push({ check, resolve }))
  }

  // Waiters also end on close, so a startup still waiting for Redis finishes instead of hanging.
  protected settle(): void {
    if (this.waiters.length === 0) return
    const waiting = this.waiters
    this.waiters = []
    for (const waiter of waiting) {
      if (this.closed || waiter.check()) waiter.resolve()
      else this.waiters.push(waiter)
    }
  }
}
