import { createDebug } from '../../src/debug'
import type { Msg, NatsConnection, NatsError, Subscription } from 'nats'
import type { Adapter, AdapterHooks } from '../../src/adapter'
import { SyncConnectionError, SyncOversizeError, type SyncError } from '../../src/errors'
import type { ResolvedOptions } from '../../src/options'
import type { Payload } from '../../src/serializers'
import { TickBatch } from '../../src/tick-batch'
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
  readonly resumeDelayMs: number
  private hooks: AdapterHooks | undefined
  private nc: NatsConnection | undefined
  private sub: Subscription | undefined
  private stopStatus: () => void = () => undefined
  private onMessage: ((payload: Payload) => void) | undefined
  private readonly confirmations: Confirmations
  // The messages of a burst go to the client together, so that they leave in one write (see TickBatch).
  private readonly outgoing = new TickBatch<Uint8Array>((batch) => this.send(batch))
  private readonly opener: Opener
  /** True while the subscription is confirmed active on the current connection. */
  private up = false
  /** Bumped on every lost connection, so that a late flush cannot report an old one as ready. */
  private epoch = 0
  private closing = false
  private lastReported: string | undefined
  /** The client found its server hung since the last reconnect (see reconnected()). */
  private hung = false
  /** A connection of ours being replaced on purpose: its closing is not news. */
  private recycling: NatsConnection | undefined
  private waiters: (() => void)[] = []

  constructor(private readonly settings: NatsSettings) {
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

  async subscribe(onMessage: (payload: Payload) => void): Promise<void> {
    this.onMessage = onMessage
    if (this.nc) await this.activate(this.nc)
  }

  publish(payload: Payload): Promise<void> {
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
    return this.outgoing.add(bytes)
  }

  /** Publishes a tick's messages together; one confirmation covers them all. */
  private send(batch: Uint8Array[]): Promise<void> | undefined {
    const nc = this.nc
    // Lost since publish(): the core queues the batch again.
    if (!nc || !this.up) throw new SyncConnectionError(this.target, `Not connected to NATS at ${this.target}`)
    for (const bytes of batch) nc.publish(this.settings.subject, bytes)
    return this.settings.confirmPublish ? this.confirmations.track() : undefined
  }

  async close(): Promise<void> {
    if (this.closing) return
    this.closing = true
    this.up = false
    this.opener.cancel()
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
      stale: () => (this.hung = true),
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
    // The client has re-sent our SUB; a flush proves the server has it. (The core then holds its
    // queue for resumeDelayMs, so that the other instances are back too.)
    const epoch = this.epoch
    const current = () => epoch === this.epoch && this.nc === nc && this.sub !== undefined && !this.closing
    nc.flush().then(
      () => {
        if (current()) this.ready()
      },
      () => undefined
    )
    this.wake()
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
