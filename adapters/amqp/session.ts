import type { ChannelModel, ConfirmChannel, Options } from 'amqplib'
import type { Payload } from '../../src/adapter'
import { ConfirmBatch } from './confirms'

/** A payload as the bytes amqplib sends, without copying a Buffer or a typed array's memory. */
export const toBuffer = (payload: Payload): Buffer =>
  typeof payload === 'string'
    ? Buffer.from(payload, 'utf8')
    : Buffer.isBuffer(payload)
      ? payload
      : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)

/** What a session tells the adapter. Called at most once per session for `lost`. */
export interface SessionEvents {
  /** The channel, its consumer or its connection is gone; the session is dead for good. */
  lost(session: AmqpSession, cause: Error): void
  /** Something went wrong that the app should hear about; `session` when it came from a channel. */
  error(cause: Error, what: string, session?: AmqpSession): void
}

/** What of the topology a session was lost with, when it was not the connection. */
export type TopologyLoss = 'exchange' | 'queue'

// Why a consumer is cancelled by the broker: its queue was deleted (or its node went down).
const CANCELLED = 'RabbitMQ cancelled the consumer (its queue was deleted)'

/** Tells a deleted exchange or queue from other reasons a channel closes. */
export function topologyLoss(cause: Error): TopologyLoss | undefined {
  if (/NOT_FOUND - no exchange/.test(cause.message)) return 'exchange'
  if (/NOT_FOUND - no queue/.test(cause.message) || cause.message === CANCELLED) return 'queue'
  return undefined
}

/** Where a session publishes: an exchange and a routing key. */
export interface Route {
  exchange: string
  routingKey: string
}

/**
 * One confirm channel on one connection. For pub/sub it carries the feathers-sync topology: a
 * non-durable `fanout` exchange named `key` and a server-named, exclusive, auto-delete queue bound
 * to it (`open`); durable mode publishes to a stream queue instead (`create`, see durable.ts). A
 * session never recovers; the adapter builds a new one on each (re)connect and drops the old one
 * whole, so nothing (listeners, consumers, publish paths) piles up across reconnects.
 */
export class AmqpSession {
  consuming = false
  /** Set once the adapter's setup finished with this session (it is or was the live one). */
  installed = false
  private dead = false
  private cause: Error | undefined
  // The batch of the current tick, and every batch not settled yet (see confirms.ts).
  private batch: ConfirmBatch | undefined
  private readonly inflight = new Set<ConfirmBatch>()

  private queue = ''
  private checkTimer: NodeJS.Timeout | undefined
  private checking = false

  private constructor(
    readonly model: ChannelModel,
    readonly channel: ConfirmChannel,
    private readonly route: Route,
    private readonly events: SessionEvents
  ) {
    // On at once: an 'error' event without a listener would throw inside amqplib.
    channel.on('error', (error: Error) => {
      this.cause = error
      // A deleted exchange or queue is told once, by the adapter, when it hears of the loss.
      if (!topologyLoss(error)) events.error(error, 'channel', this)
    })
    channel.on('handler-error', (error: Error, event: string) =>
      events.error(error, `channel ${event} listener`)
    )
    // Before amqplib's own close listener, which fails unconfirmed publishes in order (see fail()).
    channel.prependListener('close', () => this.fail(new Error('channel closed')))
    channel.on('drain', () => this.drained())
  }

  /** Opens a confirm channel that publishes along `route`; declares nothing. */
  static async create(model: ChannelModel, route: Route, events: SessionEvents): Promise<AmqpSession> {
    return new AmqpSession(model, await model.createConfirmChannel(), route, events)
  }

  /**
   * Opens a confirm channel and declares the topology. Throws (and the connection is retried) if it
   * cannot. Then checks the topology every `checkIntervalMs` (0: never), see check().
   */
  static async open(
    model: ChannelModel,
    key: string,
    events: SessionEvents,
    checkIntervalMs: number
  ): Promise<AmqpSession> {
    const session = await AmqpSession.create(model, { exchange: key, routingKey: '' }, events)
    // Same arguments as feathers-sync 3.x, or the broker refuses the second declaration.
    await session.channel.assertExchange(key, 'fanout', { durable: false })
    const { queue } = await session.channel.assertQueue('', {
      exclusive: true,
      autoDelete: true,
      durable: false
    })
    await session.channel.bindQueue(queue, key, '')
    session.queue = queue
    if (checkIntervalMs > 0) {
      session.checkTimer = setInterval(() => session.check(), checkIntervalMs)
      session.checkTimer.unref()
    }
    return session
  }

  /** Starts delivering the queue's messages, as bytes. */
  async consume(onMessage: (content: Buffer) => void): Promise<void> {
    await this.channel.consume(
      this.queue,
      (message) => {
        // null: the broker cancelled the consumer, e.g. because the queue was deleted.
        if (message === null) this.fail(new Error(CANCELLED))
        else onMessage(message.content)
      },
      { noAck: true, exclusive: true }
    )
    this.consuming = true
  }

  /**
   * Publishes to the exchange. Resolves once the broker confirmed the message and, if the channel's
   * buffer was full, once it drained; the messages of one tick share one wait (see ConfirmBatch).
   * Rejects on a nack or if the channel is lost first.
   */
  publish(content: Buffer, properties: Options.Publish): Promise<void> {
    if (this.dead) return Promise.reject(this.cause ?? new Error('channel closed'))
    const batch = this.batch ?? this.openBatch()
    const { index, confirmed } = batch.add(content.length)
    try {
      const { exchange, routingKey } = this.route
      if (!this.channel.publish(exchange, routingKey, content, properties, confirmed)) batch.awaitDrain()
    } catch (error) {
      batch.refused(index, error)
    }
    return batch.message(index)
  }

  private openBatch(): ConfirmBatch {
    const batch: ConfirmBatch = new ConfirmBatch(() => this.inflight.delete(batch))
    this.batch = batch
    this.inflight.add(batch)
    process.nextTick(() => {
      if (this.batch === batch) this.batch = undefined
      batch.close()
    })
    return batch
  }

  /** Closes the connection under this session, so that recovery rebuilds everything. */
  closeConnection(): void {
    this.model.close().catch(() => undefined)
  }

  /**
   * Binds the queue again. Idempotent while all is well; restores the binding if the exchange was
   * deleted and declared again meanwhile (by an instance that publishes, say); and if the exchange is
   * gone, the broker answers 404 and closes the channel, which ends this session (see fail()). RabbitMQ
   * sends a consumer nothing when the exchange goes, so without this only a publish would notice.
   */
  private check(): void {
    if (this.dead || this.checking) return
    this.checking = true
    const done = () => (this.checking = false)
    // Failures need no handling here: the channel's own error and close events carry them.
    Promise.resolve()
      .then(() => this.channel.bindQueue(this.queue, this.route.exchange, ''))
      .then(done, done)
  }

  private drained(): void {
    for (const batch of [...this.inflight]) batch.drained()
  }

  /** Ends the session for good (its channel, consumer or connection is gone). Idempotent. */
  fail(cause: Error): void {
    if (this.dead) return
    this.dead = true
    clearInterval(this.checkTimer)
    this.cause ??= cause
    try {
      // The adapter reports `reconnecting` first, so that the core re-queues what fails below.
      this.events.lost(this, this.cause)
    } finally {
      this.settleAll(this.cause)
    }
  }

  private settleAll(cause: Error): void {
    const batches = [...this.inflight]
    this.inflight.clear()
    this.batch = undefined
    for (const batch of batches) batch.fail(cause)
  }
}
