import type { ChannelModel, Options } from 'amqplib'
import { SyncConfigError } from '../../src/errors'
import type { AmqpDurableSettings } from './durable-options'
import { checkQueueName } from './durable-options'
import { declare, withChannel } from './stream'

/**
 * Named positions, kept by the broker. RabbitMQ stores consumer offsets server-side only for its
 * stream protocol, not for AMQP 0-9-1, so each name gets a small durable classic queue
 * (`<key>.position.<name>`, `x-max-length: 1`) whose only message is the latest position, published
 * persistent and confirmed. A new one pushes the old one out (`drop-head`); reading takes it with
 * `basic.get` and puts it back (`basic.nack` with requeue).
 */

// The queue keeps only the newest message; no expiry, so a stopped instance finds it after any outage.
const POSITION_QUEUE: Options.AssertQueue = { durable: true, arguments: { 'x-max-length': 1 } }

/** Throws a typed error unless `position` is a stream offset in decimal. */
export function checkPosition(what: string, position: unknown): number {
  if (
    typeof position !== 'string' ||
    !/^\d{1,16}$/.test(position) ||
    !Number.isSafeInteger(Number(position))
  ) {
    throw new SyncConfigError(
      what,
      `${what} must be a RabbitMQ stream offset in decimal, got ${JSON.stringify(position)}`
    )
  }
  return Number(position)
}

function queueOf(settings: AmqpDurableSettings, name: unknown): string {
  if (typeof name !== 'string' || name === '') {
    throw new SyncConfigError('durable.consumerName', 'A consumer name must be a non-empty string')
  }
  return checkQueueName('durable.consumerName', settings.positionPrefix + name)
}

/** Stores `position` as where consumer `name` stopped; resolves once RabbitMQ confirmed it. */
export async function savePosition(
  model: ChannelModel | undefined,
  settings: AmqpDurableSettings,
  target: string,
  name: string,
  position: string
): Promise<void> {
  const queue = queueOf(settings, name)
  checkPosition('position', position)
  await withChannel(model, target, async (channel) => {
    await declare(channel, queue, POSITION_QUEUE, target)
    channel.sendToQueue(queue, Buffer.from(position, 'utf8'), { persistent: true })
    await channel.waitForConfirms()
  })
}

/** Where consumer `name` stopped, or undefined if it never saved a position. */
export async function loadPosition(
  model: ChannelModel | undefined,
  settings: AmqpDurableSettings,
  target: string,
  name: string
): Promise<string | undefined> {
  const queue = queueOf(settings, name)
  return withChannel(model, target, async (channel) => {
    await declare(channel, queue, POSITION_QUEUE, target)
    const message = await channel.get(queue, { noAck: false })
    if (message === false) return undefined
    channel.nack(message, false, true)
    const position = message.content.toString('utf8')
    checkPosition(`The position stored in "${queue}"`, position)
    return position
  })
}
