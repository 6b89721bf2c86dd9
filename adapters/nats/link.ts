// The connection half of the NATS adapters: connecting, the client's status stream, a hung server,
// reopening a closed connection, the ready / reconnecting status, error reports and wake-ups.
import { createDebug } from '../../src/engine/debug'
import type { NatsConnection, Subscription } from 'nats'
import type { AdapterHooks } from '../../src/adapter'
import { SyncConnectionError, type SyncError } from '../../src/errors'
import { Confirmations } from './confirm'
import { Liveness } from './liveness'
import { Opener } from './open'
import type { NatsSettings } from './options'
import { natsReason, SERVER_CLOSED } from './reason'
import { watchStatus } from './status'

const debug = createDebug('feathers-fanout/nats')

/**
 * One long-lived connection to NATS and the status it gives the core. What "subscribed" means and how
 * a subscription becomes active are the subclass's (see activate()).
 */
export abstract class NatsLink {
  readonly target: string
  readonly resumeDelayMs: number
  protected hooks: AdapterHooks | undefined
  protected nc: NatsConnection | undefined
  protected sub: Subscription | undefined
  protected stopStatus: () => void = () => undefined
  protected readonly confirmations: Confirmations
  protected readonly opener: Opener
  /** True while the subscription is confirmed active on the current connection. */
  protected up = false
  /** Bumped on every lost connection, so that a late flush cannot report an old one as ready. */
  protected epoch = 0
  protected closing = false
  private lastReported: string | undefined
  /** The client found its server hung since the last reconnect (see reconnected()). */
  private hung = false
  /** Watches a connection of ours for a hung server (see Liveness); the user's has its own pings. */
  protected liveness: Liveness | undefined
  /** Why the liveness check dropped the connection, for the report of the lost connection. */
  private silence: string | undefined
  /** A connection of ours being replaced on purpose: its closing is not news. */
  private recycling: NatsConnection | undefined
  private waiters: (() => void)[] = []

  constructor(protected readonly settings: NatsSettings) {
    this.target = settings.target
    this.resumeDelayMs = settings.resumeDelayMs
    this.confirmations = new Confirmations(
      () => this.nc?.flush() ?? Promise.reject(new Error('no NATS connection')),
      (cause) => {
        if (this.up) this.down(this.connectionError(`Lost the connection to NATS at ${this.target}`, cause))
      }
    )
    this.opener = new Opener(settings.connection, (cause, retryInMs) =>
      this.report(
        this.connectionError(
          `Could not connect to NATS at ${this.target} (retrying every ${retryInMs} ms)`,
          cause
        )
      )
    )
  }

  async connect(hooks: AdapterHooks): Promise<void> {
    this.hooks = hooks
    const given = this.settings.natsConnection
    if (given === undefined) {
      const nc = await this.opener.open()
      if (nc) this.attach(nc)
      return
    }
    if (given.isClosed())
      throw new SyncConnectionError(this.target, `The NATS connection given as natsConnection is closed`)
    this.attach(given)
  }

  private attach(nc: NatsConnection): void {
    this.nc = nc
    const { liveness } = this.settings
    if (liveness && nc !== this.settings.natsConnection) {
      this.liveness = new Liveness(nc, liveness, (why) => this.silent(nc, why))
      this.liveness.start()
    }
    this.stopStatus = watchStatus(nc, {
      disconnected: (server) => {
        this.liveness?.pause()
        const error = this.connectionError(
          `Lost the connection to NATS at ${server}; reconnecting${this.why()}`
        )
        this.down(error)
        this.report(error)
      },
      reconnected: () => this.reconnected(nc),
      stale: () => (this.hung = true),
      serverError: (text, denied) => {
        // A refused subscription of ours is told by subscriptionFailed(), once.
        if (denied?.operation === 'subscription' && denied.subject === this.settings.subject) return
        this.report(
          new SyncConnectionError(this.target, `The NATS server at ${nc.getServer()} reported: ${text}`)
        )
      }
    })
    void nc.closed().then((cause) => this.closed(nc, cause))
  }

  /** Subscribes on `nc`; resolves once ready, or when the connection or the adapter closes. */
  protected abstract activate(nc: NatsConnection): Promise<void>

  /** Resolves after `ms`, or sooner on wake(). */
  protected pauseFor(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(done, ms)
      timer.unref()
      this.waiters.push(done)
    })
  }

  private reconnected(nc: NatsConnection): void {
    // nats.js 2.29 never closes a connection attempt that timed out (nats-io/nats.js#64), which is what
    // attempts against a hung server do. Once the server answers again such a socket connects, and when
    // the server drops it (it never sends CONNECT) the client takes that for its own connection lost: it
    // reconnects, abandoning its healthy connection, which in turn goes stale, and so on, once per ping
    // timeout of the server. Closing the whole client ends that; a fresh connection replaces it.
    if (this.hung && nc !== this.settings.natsConnection) {
      debug('the server was hung: replacing the connection')
      this.recycling = nc
      nc.close().catch((cause: unknown) => debug('close after a hung server failed', cause))
      return
    }
    this.hung = false
    this.liveness?.start()
    const epoch = this.epoch
    const current = () => epoch === this.epoch && this.nc === nc && this.subscribed && !this.closing
    this.resubscribe(nc, current).then(
      () => {
        if (current()) this.ready()
      },
      () => undefined
    )
    this.wake()
  }

  /**
   * The liveness check heard nothing from the server, neither a PONG nor a message: the server is hung or
   * the network is. Reconnect, as the client does when it finds a connection stale.
   */
  private silent(nc: NatsConnection, why: string): void {
    if (this.closing || this.nc !== nc) return
    this.hung = true
    this.silence = why
    nc.reconnect().catch((cause: unknown) => debug('reconnect after a silent server failed', cause))
  }

  /** What the report of a lost connection adds: what the liveness check found, or what else may have. */
  private why(): string {
    const { silence } = this
    this.silence = undefined
    if (silence !== undefined) return ` (${silence})`
    // Found stale by the client's own ping check (the backstop), or a subscription not up anyway.
    if (this.hung || !this.up) return ''
    return ` (${SERVER_CLOSED})`
  }

  /** Whether a subscription was asked for (and should be active whenever connected). */
  protected get subscribed(): boolean {
    return this.sub !== undefined
  }

  /**
   * After the client reconnected `nc`: resolves once the subscription is active again. The client has
   * re-sent our SUB; a flush proves the server has it. (The core then holds its queue for
   * resumeDelayMs, so that the other instances are back too.) `current` turns false once this
   * connection is no longer the one to resume on.
   */
  protected resubscribe(nc: NatsConnection, _current: () => boolean): Promise<void> {
    return nc.flush()
  }

  /** The client closed for good: credentials refused twice, attempts used up, or its owner closed it. */
  private async closed(nc: NatsConnection, cause: void | Error): Promise<void> {
    if (this.closing || this.nc !== nc) return
    const owned = nc !== this.settings.natsConnection
    if (this.recycling !== nc) {
      const next = owned ? 'opening a new connection' : 'events stay local until it is replaced'
      const error = this.connectionError(
        `The NATS connection to ${this.target} closed; ${next}`,
        cause || undefined
      )
      this.down(error)
      this.report(error)
    }
    this.recycling = undefined
    this.hung = false
    this.liveness?.pause()
    this.liveness = undefined
    this.stopStatus()
    this.nc = undefined
    this.sub = undefined
    this.wake()
    if (!owned) return
    const reopened = await this.opener.open()
    if (!reopened) return
    this.attach(reopened)
    await this.activate(reopened)
  }

  protected ready(): void {
    if (this.up || this.closing) return
    this.up = true
    this.lastReported = undefined
    this.hooks?.status('ready')
    this.wake()
  }

  protected down(cause: SyncConnectionError): void {
    if (this.closing) return
    this.epoch++
    this.up = false
    // Status first: the core must know it is offline before the failed messages come back to it.
    this.hooks?.status('reconnecting', cause)
    this.confirmations.failAll(cause)
  }

  /** Reports an error once per distinct message, so a long outage does not flood `sync-error`. */
  protected report(error: SyncError): void {
    if (error.message === this.lastReported) return
    this.lastReported = error.message
    this.hooks?.error(error)
  }

  protected connectionError(message: string, cause?: unknown): SyncConnectionError {
    const detail = cause === undefined ? '' : `: ${natsReason(cause)}`
    return new SyncConnectionError(
      this.target,
      `${message}${detail}`,
      cause === undefined ? undefined : { cause }
    )
  }

  /** Resolves on the next reconnect, lost connection or close. */
  protected nextWake(): Promise<void> {
    return new Promise<void>((resolve) => this.waiters.push(resolve))
  }

  protected wake(): void {
    const waiters = this.waiters
    this.waiters = []
    waiters.forEach((resolve) => resolve())
  }
}
