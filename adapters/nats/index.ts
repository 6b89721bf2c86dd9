import { createDebug } from '@feathersjs/commons'
import type { Msg, NatsConnection, NatsError, Subscription } from 'nats'
import type { Adapter, AdapterHooks } from '../../src/adapter'
import { SyncConnectionError, SyncOversizeError, type SyncError } from '../../src/errors'
import type { ResolvedOptions } from '../../src/options'
import type { Payload } from '../../src/serializers'
import { Confirmations } from './confirm'
import { Opener } from './open'
import { parseNatsOptions, type NatsAdapterOptions, type NatsSettings } from './options'
import { natsReason } from './reason'
import { watchStatus } from './status'

export type { NatsAdapterOptions } from './options'

const debug = createDebug('feathers-fanout/nats')

/**
 * NATS core pub/sub on one long-lived connection (feathers-sync opens one per published event).
 * Reconnecting is the client's job; this class maps its status stream onto the core's, confirms
 * publishes with a flush (see Confirmations), and reopens its own connection if the client gives up.
 */
class NatsAdapter implements Adapter {
  readonly type = 'nats'
  readonly target: string
  private hooks: AdapterHooks | undefined
  private nc: NatsConnection | undefined
  private sub: Subscription | undefined
  private stopStatus: () => void = () => undefined
  private onMessage: ((payload: Payload) => void) | undefined
  private readonly confirmations: Confirmations
  private readonly opener: Opener
  /** True while the subscription is confirmed active on the current connection. */
  private up = false
  /** Bumped on every lost connection, so that a late flush cannot report an old one as ready. */
  private epoch = 0
  private closing = false
  private lastReported: string | undefined
  private waiters: (() => void)[] = []
  private resumeTimer: NodeJS.Timeout | undefined

  constructor(private readonly settings: NatsSettings) {
    this.target = settings.target
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

  async subscribe(onMessage: (payload: Payload) => void): Promise<void> {
    this.onMessage = onMessage
    if (this.nc) await this.activate(this.nc)
  }

  publish(payload: Payload): Promise<void> | undefined {
    const nc = this.nc
    if (!nc || !this.up) throw new SyncConnectionError(this.target, `Not connected to NATS at ${this.target}`)
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload
    const limit = nc.info?.max_payload
    // The client would throw a bare MAX_PAYLOAD_EXCEEDED; this names the size, the limit and the server.
    if (limit !== undefined && bytes.byteLength > limit) {
      throw new SyncOversizeError(
        bytes.byteLength,
        limit,
        `A message to NATS at ${nc.getServer()} (its max_payload)`
      )
    }
    nc.publish(this.settings.subject, bytes)
    return this.settings.confirmPublish ? this.confirmations.track() : undefined
  }

  async close(): Promise<void> {
    if (this.closing) return
    this.closing = true
    this.up = false
    this.opener.cancel()
    clearTimeout(this.resumeTimer)
    this.wake()
    this.stopStatus()
    this.confirmations.failAll(
      new SyncConnectionError(this.target, 'The NATS adapter closed before the server confirmed')
    )
    const { nc, sub } = this
    this.nc = undefined
    this.sub = undefined
    try {
      sub?.unsubscribe()
    } catch (cause) {
      debug('unsubscribe failed', cause)
    }
    // A connection the user gave us stays open: only our subscription goes.
    if (nc && nc !== this.settings.natsConnection) await nc.close()
  }

  private attach(nc: NatsConnection): void {
    this.nc = nc
    this.stopStatus = watchStatus(nc, {
      disconnected: (server) => {
        const error = this.connectionError(`Lost the connection to NATS at ${server}; reconnecting`)
        this.down(error)
        this.report(error)
      },
      reconnected: () => this.reconnected(nc),
      serverError: (text) =>
        this.report(
          new SyncConnectionError(this.target, `The NATS server at ${nc.getServer()} reported: ${text}`)
        )
    })
    void nc.closed().then((cause) => this.closed(nc, cause))
  }

  /** Subscribes on `nc` and reports ready once the server has registered the subscription. */
  private async activate(nc: NatsConnection): Promise<void> {
    const { onMessage } = this
    if (!onMessage || this.closing) return
    this.sub = nc.subscribe(this.settings.subject, {
      callback: (error, msg) => this.receive(error, msg, onMessage)
    })
    while (!this.closing && this.nc === nc && !this.up) {
      const epoch = this.epoch
      const flushed = await nc.flush().then(
        () => true,
        () => false
      )
      if (flushed && epoch === this.epoch) this.ready()
      // Lost on the way: wait for the client's next reconnect (or close) and try again.
      else await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
  }

  private receive(error: NatsError | null, msg: Msg, onMessage: (payload: Payload) => void): void {
    if (error) {
      this.report(this.connectionError(`The NATS subscription to "${this.settings.subject}" failed`, error))
      return
    }
    try {
      // A view, not a copy; a Buffer so that feathers-sync style deserializers can call toString().
      const { data } = msg
      onMessage(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    } catch (cause) {
      debug('onMessage threw', cause)
    }
  }

  private reconnected(nc: NatsConnection): void {
    // The client has re-sent our SUB; a flush proves the server has it. Then the queue waits a
    // little more for the other instances to be back (see resumeDelayMs) before we say ready.
    const epoch = this.epoch
    const current = () => epoch === this.epoch && this.nc === nc && this.sub !== undefined && !this.closing
    nc.flush().then(
      () => {
        if (!current()) return
        clearTimeout(this.resumeTimer)
        this.resumeTimer = setTimeout(() => {
          if (current()) this.ready()
        }, this.settings.resumeDelayMs)
        this.resumeTimer.unref()
      },
      () => undefined
    )
    this.wake()
  }

  /** The client closed for good: credentials refused twice, attempts used up, or its owner closed it. */
  private async closed(nc: NatsConnection, cause: void | Error): Promise<void> {
    if (this.closing || this.nc !== nc) return
    const owned = nc !== this.settings.natsConnection
    const next = owned ? 'opening a new connection' : 'events stay local until it is replaced'
    const error = this.connectionError(
      `The NATS connection to ${this.target} closed; ${next}`,
      cause || undefined
    )
    this.down(error)
    this.report(error)
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

  private ready(): void {
    if (this.up || this.closing) return
    this.up = true
    this.lastReported = undefined
    this.hooks?.status('ready')
    this.wake()
  }

  private down(cause: SyncConnectionError): void {
    if (this.closing) return
    this.epoch++
    this.up = false
    // Status first: the core must know it is offline before the failed messages come back to it.
    this.hooks?.status('reconnecting', cause)
    this.confirmations.failAll(cause)
  }

  /** Reports an error once per distinct message, so a long outage does not flood `sync-error`. */
  private report(error: SyncError): void {
    if (error.message === this.lastReported) return
    this.lastReported = error.message
    this.hooks?.error(error)
  }

  private connectionError(message: string, cause?: unknown): SyncConnectionError {
    const detail = cause === undefined ? '' : `: ${natsReason(cause)}`
    return new SyncConnectionError(
      this.target,
      `${message}${detail}`,
      cause === undefined ? undefined : { cause }
    )
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    waiters.forEach((resolve) => resolve())
  }
}

/** Creates the NATS adapter; options are checked here, at configure time. */
export function createNatsAdapter(options: ResolvedOptions & NatsAdapterOptions): Adapter {
  return new NatsAdapter(parseNatsOptions(options))
}
