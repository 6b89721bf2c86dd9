import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib'
import { SyncConfigError, SyncConnectionError } from '../../src/errors'
import type { AmqpDurableSettings } from './durable-options'

/**
 * Broker work on a RabbitMQ stream queue over AMQP 0-9-1, apart from the live subscription:
 * declaring it, finding its newest offset and reading a bounded range. Each probe or range read
 * runs on a short-lived channel of its own, so an error there never touches the publish channel.
 */

/** How long a probe at `last` waits for a first delivery before it takes the stream as empty. */
export const EMPTY_PROBE_MS = 500
/** Bound on a range read; it normally ends as soon as it reaches the offset the probe found. */
export const READ_TIMEOUT_MS = 10_000

/** The stream's arguments; RabbitMQ refuses (406) to declare it again with different ones. */
export function streamArguments(settings: AmqpDurableSettings): Options.AssertQueue {
  return {
    durable: true,
    arguments: {
      'x-queue-type': 'stream',
      'x-max-length-bytes': settings.maxBytes,
      'x-max-age': settings.maxAge,
      'x-stream-max-segment-size-bytes': settings.segmentBytes,
      // Only when given, so that streams declared without the option are declared as before.
      ...(settings.replicas === undefined ? {} : { 'x-initial-cluster-size': settings.replicas })
    }
  }
}

// Which option sets each queue argument we declare.
const OPTION_OF_ARGUMENT: Readonly<Record<string, string>> = {
  'x-max-length-bytes': 'durable.maxBytes',
  'x-stream-max-segment-size-bytes': 'durable.maxBytes',
  'x-max-age': 'durable.maxAgeMs',
  'x-initial-cluster-size': 'amqpStreamReplicas',
  'x-queue-type': 'key',
  'x-max-length': 'durable.consumerName'
}

/**
 * Turns RabbitMQ's 406 PRECONDITION_FAILED on a queue declaration into a `SyncConfigError` naming the
 * option behind the argument; undefined for any other error.
 */
export function declarationError(cause: unknown, queue: string, target: string): SyncConfigError | undefined {
  const message = cause instanceof Error ? cause.message : String(cause)
  if (!/PRECONDITION[_-]FAILED/.test(message)) return undefined
  const reason = /PRECONDITION_FAILED - ([^"]*)/.exec(message)?.[1] ?? message
  const argument = /(?:inequivalent|invalid) arg '([^']+)'/.exec(message)?.[1]
  if (argument === 'x-queue-type' && /invalid arg|feature|unsupported/i.test(message)) {
    return new SyncConfigError(
      'durable',
      `Option "durable" needs RabbitMQ stream queues (3.9 or later, feature flag stream_queue on), which RabbitMQ at ${target} refused: ${reason}`,
      { cause }
    )
  }
  const option = (argument && OPTION_OF_ARGUMENT[argument]) ?? 'durable'
  return new SyncConfigError(
    option,
    `The queue "${queue}" already exists on RabbitMQ at ${target} with other arguments than option "${option}" gives (${reason}); set "${option}" to match it, or delete the queue`,
    { cause }
  )
}

/** Declares `queue` with `options` on `channel`, mapping a refused declaration to a typed error. */
export async function declare(
  channel: Channel,
  queue: string,
  options: Options.AssertQueue,
  target: string
): Promise<void> {
  try {
    await channel.assertQueue(queue, options)
  } catch (cause) {
    throw declarationError(cause, queue, target) ?? cause
  }
}

/** The stream offset RabbitMQ puts on every delivery from a stream queue. */
export function offsetOf(message: ConsumeMessage): number | undefined {
  const offset: unknown = message.properties.headers?.['x-stream-offset']
  return typeof offset === 'number' && Number.isSafeInteger(offset) ? offset : undefined
}

/** Runs `work` on a (confirm) channel of its own and closes it after. */
export async function withChannel<T>(
  model: ChannelModel | undefined,
  target: string,
  work: (channel: ConfirmChannel) => Promise<T>
): Promise<T> {
  if (!model) throw new SyncConnectionError(target, `Not connected to RabbitMQ at ${target}`)
  const channel = await model.createConfirmChannel()
  // A channel error also rejects the pending operation; without a listener it would throw in amqplib.
  channel.on('error', () => undefined)
  try {
    return await work(channel)
  } finally {
    await channel.close().catch(() => undefined)
  }
}

/**
 * The newest (`last`) or oldest (`first`) offset in the stream, or undefined when it is empty. A consumer
 * attached there gets the chunk that holds it whole (RabbitMQ reads whole chunks even past the consumer's
 * credit); once its first message is in, a `basic.cancel` round trip follows every message of that read,
 * so the highest (lowest) offset seen before `cancel-ok` is the end (start) of the log at that moment.
 * Nothing arrives from an empty stream: after EMPTY_PROBE_MS without a delivery it is taken as empty.
 */
export function probeEnd(
  model: ChannelModel | undefined,
  stream: string,
  target: string,
  end: 'first' | 'last'
): Promise<number | undefined> {
  const pick = end === 'last' ? Math.max : Math.min
  return withChannel(model, target, async (channel) => {
    let found: number | undefined
    let first: () => void = () => undefined
    const delivered = new Promise<boolean>((resolve) => {
      first = () => resolve(true)
      setTimeout(() => resolve(false), EMPTY_PROBE_MS).unref()
    })
    await channel.prefetch(1)
    const { consumerTag } = await channel.consume(
      stream,
      (message) => {
        const offset = message && offsetOf(message)
        if (offset === undefined || offset === null) return
        found = pick(found ?? offset, offset)
        first()
      },
      { arguments: { 'x-stream-offset': end } }
    )
    await delivered
    await channel.cancel(consumerTag)
    return found
  })
}

/**
 * Up to `limit` messages after offset `after` (exclusive), oldest first, reading no further than
 * offset `end` (the newest when the read began); `after` -1 reads from the first. Attaches at `after`
 * itself and skips it and anything before: RabbitMQ may hand a chunk from its start.
 */
export function readStream(
  model: ChannelModel | undefined,
  stream: string,
  target: string,
  range: { after: number; end: number; limit: number }
): Promise<{ content: Buffer; offset: number }[]> {
  const { after, end, limit } = range
  return withChannel(model, target, async (channel) => {
    const read: { content: Buffer; offset: number }[] = []
    let finished = false
    let finish: () => void = () => undefined
    let fail: (error: Error) => void = () => undefined
    const done = new Promise<void>((resolve, reject) => {
      finish = resolve
      fail = reject
    })
    const timer = setTimeout(
      () =>
        fail(
          new SyncConnectionError(
            target,
            `Reading the stream "${stream}" on RabbitMQ at ${target} took over ${READ_TIMEOUT_MS} ms`
          )
        ),
      READ_TIMEOUT_MS
    )
    await channel.prefetch(Math.min(limit, 1_000))
    await channel.consume(
      stream,
      (message) => {
        if (message === null)
          return fail(new SyncConnectionError(target, `RabbitMQ cancelled the read of "${stream}"`))
        channel.ack(message)
        const offset = offsetOf(message)
        if (finished || offset === undefined || offset <= after) return
        read.push({ content: message.content, offset })
        if (read.length >= limit || offset >= end) {
          // Deliveries can still arrive while the channel closes: they are past the range.
          finished = true
          finish()
        }
      },
      { arguments: { 'x-stream-offset': Math.max(after, 0) } }
    )
    try {
      await done
    } finally {
      clearTimeout(timer)
    }
    return read
  })
}
