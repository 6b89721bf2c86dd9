import { createDebug } from '../../src/engine/debug'
import { ErrorCode, type Msg, type NatsConnection, type NatsError, type Subscription } from 'nats'
import type { Adapter, AdapterCapabilities, Payload } from '../../src/adapter'
import { SyncConnectionError, SyncSubscriptionError } from '../../src/errors'
import { TickBatch } from '../../src/engine/tick-batch'
import { NatsLink } from './link'
import { checkSize, natsReason } from './reason'

const debug = createDebug('feathers-fanout/nats')

/**
 * NATS core pub/sub on one long-lived connection (feathers-sync opens one per published event).
 * Reconnecting is the client's job; this class maps its status stream onto the core's, confirms
 * publishes with a flush (see Confirmations), and reopens its own connection if the client gives up.
 */
export class NatsAdapter extends NatsLink implements Adapter {
  readonly type = 'nats'
  readonly capabilities: AdapterCapabilities = { broadcast: true, durable: false }
  private onMessage: ((payload: Payload) => void) | undefined
  // The messages of a burst go to the client together, so that they leave in one write (see TickBatch).
  private readonly outgoing = new TickBatch<Uint8Array>((batch) => this.send(batch))
  /** The connection an activate() loop is running on, if any. */
  private activating: NatsConnection | undefined
  /** Starts activate() again after the server took the subscription away while no loop was running. */
  private resubscribeTimer: NodeJS.Timeout | undefined

  async subscribe(onMessage: (payload: Payload) => void): Promise<void> {
    this.onMessage = onMessage
    if (this.nc) await this.activate(this.nc)
  }

  publish(payload: Payload): Promise<void> {
    const nc = this.nc
    if (!nc || !this.up) throw new SyncConnectionError(this.target, `Not connected to NATS at ${this.target}`)
    return this.outgoing.add(checkSize(nc, payload))
  }

  /** The server's `max_payload` once connected. */
  get maxPayloadBytes(): number | undefined {
    return this.nc?.info?.max_payload
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
    clearTimeout(this.resubscribeTimer)
    this.wake()
    this.stopStatus()
    this.liveness?.pause()
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

  /**
   * Subscribes on `nc` (again, if the server refused it) and reports ready once the server has
   * registered the subscription. Resolves only then, or when the connection or the adapter closes.
   */
  protected override async activate(nc: NatsConnection): Promise<void> {
    const { onMessage } = this
    if (!onMessage || this.closing || this.activating === nc) return
    this.activating = nc
    try {
      while (!this.closing && this.nc === nc && !this.up) {
        const sub = this.sub ?? this.subscribeOn(nc, onMessage)
        const epoch = this.epoch
        const flushed = await nc.flush().then(
          () => true,
          () => false
        )
        // The server answers a refused SUB with -ERR before the PONG: by now such a one is gone.
        if (flushed && epoch === this.epoch && this.sub === sub) this.ready()
        // Refused: try again after a while (or at once on a reconnect, or stop on close).
        else if (flushed && this.sub === undefined) await this.pauseFor(this.settings.resubscribeIntervalMs)
        // Lost on the way: wait for the client's next reconnect (or close) and try again.
        else await this.nextWake()
      }
    } finally {
      if (this.activating === nc) this.activating = undefined
    }
  }

  private subscribeOn(nc: NatsConnection, onMessage: (payload: Payload) => void): Subscription {
    const sub: Subscription = nc.subscribe(this.settings.subject, {
      callback: (error, msg) =>
        error ? this.subscriptionFailed(nc, sub, error) : this.receive(msg, onMessage)
    })
    this.sub = sub
    return sub
  }

  /**
   * The server refused the subscription or took it away (a permission removed, e.g. by a config reload),
   * while the connection may well stay up: not ready until a later attempt is accepted.
   */
  private subscriptionFailed(nc: NatsConnection, sub: Subscription, error: NatsError): void {
    if (this.closing || this.sub !== sub) return
    this.sub = undefined
    // The client closes a refused subscription itself; any other must not live on next to the new one.
    queueMicrotask(() => {
      if (!sub.isClosed()) sub.unsubscribe()
    })
    const { subject, resubscribeIntervalMs } = this.settings
    const what =
      error.code === ErrorCode.PermissionsViolation
        ? `The NATS server at ${nc.getServer()} refused the subscription to "${subject}"`
        : `The NATS subscription to "${subject}" failed`
    const message = `${what}; trying again every ${resubscribeIntervalMs} ms: ${natsReason(error)}`
    const lost = new SyncSubscriptionError(this.target, subject, message, { cause: error })
    if (this.up) {
      // The connection is fine: what is in flight will be confirmed, so only the status changes.
      this.epoch++
      this.up = false
      this.hooks?.status('reconnecting', lost)
    }
    this.report(lost)
    // A running activate() loop tries again by itself.
    if (this.activating === nc) return
    clearTimeout(this.resubscribeTimer)
    this.resubscribeTimer = setTimeout(() => void this.activate(nc), resubscribeIntervalMs)
    this.resubscribeTimer.unref()
  }

  private receive(msg: Msg, onMessage: (payload: Payload) => void): void {
    try {
      // A view, not a copy; a Buffer so that feathers-sync style deserializers can call toString().
      const { data } = msg
      onMessage(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    } catch (cause) {
      debug('onMessage threw', cause)
    }
  }
}
