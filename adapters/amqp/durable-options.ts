import { SyncConfigError } from '../../src/errors'
import type { ResolvedOptions } from '../../src/adapter'
import type { AmqpAdapterOptions } from './options'

/** Durable delivery on RabbitMQ, worked out once: the stream queue and its retention arguments. */
export interface AmqpDurableSettings {
  /** The stream queue's name: `<key>.stream`. */
  stream: string
  /** The durable fanout exchange every durable publish goes to: `<key>.log`, bound to the stream and groups. */
  exchange: string
  /** Prefix of the consumer groups' queues: `<key>.group.` + group name. */
  groupPrefix: string
  /** Prefix of the queues that hold named positions: `<key>.position.` + consumer name. */
  positionPrefix: string
  /** `x-max-length-bytes`, from `durable.maxBytes`. */
  maxBytes: number
  /** `x-max-age` in whole seconds (`86400s`), from `durable.maxAgeMs` rounded up. */
  maxAge: string
  /** `x-stream-max-segment-size-bytes`: a tenth of `maxBytes` (at most RabbitMQ's 500 MB default). */
  segmentBytes: number
  /** `x-initial-cluster-size`, from `amqpStreamReplicas`; undefined: not sent (RabbitMQ's default). */
  replicas: number | undefined
  consumerName: string | undefined
}

const MAX_SEGMENT_BYTES = 500_000_000
const MAX_QUEUE_NAME_BYTES = 255

/** Throws unless `name` fits RabbitMQ's limit on queue names (255 bytes of UTF-8). */
export function checkQueueName(option: string, name: string): string {
  if (Buffer.byteLength(name, 'utf8') > MAX_QUEUE_NAME_BYTES) {
    throw new SyncConfigError(
      option,
      `Option "${option}" makes the RabbitMQ queue name "${name}" longer than ${MAX_QUEUE_NAME_BYTES} bytes`
    )
  }
  return name
}

/**
 * Validates the `durable` option for RabbitMQ streams, naming the bad field; undefined when durable
 * delivery is off. Streams retain by bytes and age only, so `durable.maxMessages` is refused.
 */
export function parseAmqpDurable(
  options: ResolvedOptions & AmqpAdapterOptions
): AmqpDurableSettings | undefined {
  const { durable, key, amqpStreamReplicas: replicas } = options
  if (
    replicas !== undefined &&
    (typeof replicas !== 'number' || !Number.isSafeInteger(replicas) || replicas < 1)
  ) {
    throw new SyncConfigError(
      'amqpStreamReplicas',
      `Option "amqpStreamReplicas" must be a whole number >= 1, got ${String(replicas)}`
    )
  }
  if (durable === false) {
    if (replicas !== undefined) {
      throw new SyncConfigError('amqpStreamReplicas', 'Option "amqpStreamReplicas" needs "durable"')
    }
    return undefined
  }
  if (durable.given.maxMessages !== undefined) {
    throw new SyncConfigError(
      'durable.maxMessages',
      'Option "durable.maxMessages" cannot be honoured by RabbitMQ streams, which retain by bytes and age only; set "durable.maxBytes" instead'
    )
  }
  // Validated with their defaults by the engine's parseOptions.
  const { maxAgeMs, maxBytes, consumerName } = durable
  const positionPrefix = `${key}.position.`
  if (consumerName !== undefined) checkQueueName('durable.consumerName', positionPrefix + consumerName)
  return {
    stream: checkQueueName('key', `${key}.stream`),
    exchange: checkQueueName('key', `${key}.log`),
    groupPrefix: `${key}.group.`,
    positionPrefix,
    maxBytes,
    maxAge: `${Math.ceil(maxAgeMs / 1000)}s`,
    segmentBytes: Math.max(1, Math.min(MAX_SEGMENT_BYTES, Math.floor(maxBytes / 10))),
    replicas,
    consumerName
  }
}
