import { createDebug } from '../../src/engine/debug'
import type { Channel, ChannelModel, ConsumeMessage, Options } from 'amqplib'
import type { GroupMembership, GroupMessage, GroupOptions } from '../../src/adapter'
import { SyncConnectionError, SyncGroupError, type SyncError } from '../../src/errors'
import { withTimeout } from '../../src/engine/timeout'
import { checkQueueName, type AmqpDurableSettings } from './durable-options'
import { declare } from './stream'

const debug = createDebug('feathers-fanout/amqp')

/** How long a member waits before opening its channel again after the broker closed it alone (ms). */
const REOPEN_MS = 250
/**
 * Longest a join (channel, declarations, consume) may wait for RabbitMQ's answers before its channel is
 * closed and it is tried again (ms). Heartbeats only catch a silent connection; a broker that answers
 * them but not a queue declaration (a quorum queue whose leader is not back after a crash) would
 * otherwise leave the member out of its group for good, with nothing said.
 */
export const ATTACH_TIMEOUT_MS = 15_000

/**
 * The queue of a consumer group: durable, quorum (it counts deliveries in `x-delivery-count`, keeps
 * messages on every node's disk and requeues a closed channel's unacknowledged ones), bounded like the
 * stream (`x-max-length-bytes`, dropping its oldest) so that a group nobody reads cannot fill the disk.
 */
export function groupQueue(
  settings: AmqpDurableSettings,
  group: string
): { name: string; options: Options.AssertQueue } {
  return {
    name: checkQueueName('group', settings.groupPrefix + group),
    options: {
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-max-length-bytes': settings.maxBytes }
    }
  }
}

/** How many times RabbitMQ has handed `message` over, this time included (quorum queues count). */
export function deliveriesOf(message: ConsumeMessage): number {
  const returned: unknown = message.properties.headers?.['x-delivery-count']
  if (typeof returned === 'number' && Number.isSafeInteger(returned) && returned >= 0) return returned + 1
  return message.fields.redelivered ? 2 : 1
}

/**
 * One member of a consumer group on RabbitMQ: a channel of its own consuming the group's queue with
 * manual acks and `basic.qos(prefetch)`. RabbitMQ hands each message to one consumer of the queue and
 * puts back whatever a consumer held unacknowledged the moment its channel closes (leave(), a lost
 * connection, a killed process), for the next consumer. On each new connection the adapter calls
 * `attach` again: membership resumes by itself.
 */
export class AmqpGroupMember implements GroupMembership {
  private channel: Channel | undefined
  private model: ChannelModel | undefined
  /** The attach under way or done on `model`. */
  private attaching: Promise<void> | undefined
  private left = false
  private readonly queue: { name: string; options: Options.AssertQueue }
  /** nack(delay) timers, cleared on leave (the channel's close requeues those messages anyway). */
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor(
    private readonly settings: AmqpDurableSettings,
    private readonly target: string,
    readonly group: string,
    private readonly options: GroupOptions,
    private readonly onMessage: (message: GroupMessage) => void,
    /** The live connection, if any; asked when the broker closed our channel alone. */
    private readonly current: () => ChannelModel | undefined,
    /** Tells the app (`sync-error`) that joining again failed; the member keeps trying. */
    private readonly report: (error: SyncError) => void = () => undefined
  ) {
    this.queue = groupQueue(settings, group)
  }

  /**
   * Attaches on a new connection without holding up the adapter's setup (a quorum queue still
   * recovering after a broker restart can take a while); tries again every REOPEN_MS while `model` is
   * the live connection.
   */
  reattach(model: ChannelModel): void {
    this.attach(model).catch((cause: unknown) => {
      debug(`group ${this.group}: attach failed, trying again`, cause)
      if (!this.left && this.current() === model) {
        const why = cause instanceof Error ? cause.message : String(cause)
        const text = `Could not join consumer group "${this.group}" again on RabbitMQ at ${this.target} (${why}); trying again every ${REOPEN_MS} ms`
        this.report(new SyncGroupError(this.group, text, { cause }))
      }
      if (this.model === model) this.model = undefined
      this.later(() => {
        if (this.current() === model) this.reattach(model)
      })
    })
  }

  /**
   * Declares and binds the group's queue on `model`, then consumes it on a new channel. Idempotent per
   * connection: a second call while the first is under way shares it (the first join and the connection's
   * setup can both ask).
   */
  attach(model: ChannelModel): Promise<void> {
    if (this.left) return Promise.resolve()
    if (this.model === model && this.attaching) return this.attaching
    this.model = model
    const attempt: { channel?: Channel; expired?: boolean } = {}
    const { result } = withTimeout(this.consume(model, attempt), ATTACH_TIMEOUT_MS, () => {
      // Closing the channel ends what waits on it; `closed` must not start another attempt for it.
      attempt.expired = true
      const hung = attempt.channel
      if (hung && this.channel === hung) this.channel = undefined
      hung?.close().catch(() => undefined)
      return new SyncConnectionError(
        this.target,
        `RabbitMQ at ${this.target} did not answer within ${ATTACH_TIMEOUT_MS} ms while consumer group "${this.group}" joined its queue`
      )
    })
    this.attaching = result
    return result
  }

  private async consume(
    model: ChannelModel,
    attempt: { channel?: Channel; expired?: boolean }
  ): Promise<void> {
    const channel = await model.createChannel()
    if (attempt.expired) {
      // A channel that opened only after this attempt gave up: the next attempt opens its own.
      await channel.close().catch(() => undefined)
      return
    }
    attempt.channel = channel
    channel.on('error', (cause: Error) => debug(`group ${this.group}: channel error`, cause.message))
    channel.on('close', () => this.closed(channel, model))
    this.channel = channel
    const { exchange } = this.settings
    // As the main connection declares it: this connection may get here first.
    await channel.assertExchange(exchange, 'fanout', { durable: true })
    await declare(channel, this.queue.name, this.queue.options, this.target)
    await channel.bindQueue(this.queue.name, exchange, '')
    await channel.prefetch(this.options.prefetch)
    await channel.consume(
      this.queue.name,
      // null: RabbitMQ cancelled the consumer (its queue was deleted). The channel would stay open and
      // deaf; closing it puts back what it held and makes this member declare the queue and join again.
      (message) => (message ? this.hand(channel, message) : this.cancelled(channel)),
      { noAck: false }
    )
  }

  async leave(): Promise<void> {
    if (this.left) return
    this.left = true
    this.timers.forEach(clearTimeout)
    this.timers.clear()
    const channel = this.channel
    this.channel = undefined
    // Closing the channel makes RabbitMQ requeue at once what this member held unacknowledged.
    await channel?.close().catch(() => undefined)
  }

  /** Our channel is gone: a lost connection (the next one attaches again) or the broker closed it alone. */
  private closed(channel: Channel, model: ChannelModel): void {
    if (this.channel !== channel) return
    this.channel = undefined
    if (this.left) return
    this.later(() => {
      // Only if nothing attached since (a new connection's setup may have) and the connection lives on.
      if (this.channel === undefined && this.model === model && this.current() === model) {
        this.model = undefined
        this.reattach(model)
      }
    })
  }

  private cancelled(channel: Channel): void {
    debug(`group ${this.group}: RabbitMQ cancelled the consumer; joining again`)
    channel.close().catch(() => undefined)
  }

  private later(run: () => void, delayMs = REOPEN_MS): void {
    if (this.left) return
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      if (!this.left) run()
    }, delayMs)
    this.timers.add(timer)
  }

  private hand(channel: Channel, delivery: ConsumeMessage): void {
    let settled = false
    const settle = (what: string): void => {
      if (settled) return
      if (this.channel !== channel) {
        // Its channel is gone, and with it the delivery: RabbitMQ already put the message back.
        throw new SyncConnectionError(
          this.target,
          `Could not ${what} a message of group "${this.group}": its channel to RabbitMQ at ${this.target} closed (the message was requeued)`
        )
      }
      settled = true
    }
    const message: GroupMessage = {
      payload: delivery.content,
      // A group queue is a queue of its own: RabbitMQ tells no stream offset for its messages.
      position: undefined,
      deliveries: deliveriesOf(delivery),
      ack: async () => {
        settle('ack')
        channel.ack(delivery)
      },
      nack: async (delayMs) => {
        settle('nack')
        if (!(delayMs > 0)) return channel.nack(delivery, false, true)
        // RabbitMQ has no delayed requeue: the member keeps it (counted in its prefetch) until then.
        this.later(() => {
          if (this.channel === channel) channel.nack(delivery, false, true)
        }, delayMs)
      }
    }
    try {
      this.onMessage(message)
    } catch (cause) {
      debug(`group ${this.group}: the message handler threw`, cause)
    }
  }
}
