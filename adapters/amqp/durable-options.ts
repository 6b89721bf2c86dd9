import { SyncConfigError } from '../../src/errors'
import type { DurableOptions, ResolvedOptions } from '../../src/options'
import { isObject } from './options'

/** Durable delivery on RabbitMQ, worked out once: the stream queue and its retention arguments. */
export interface AmqpDurableSettings {
  /** The stream queue's name: `<key>.stream`. */
  stream: string
  /** Prefix of the queues that hold named positions: `<key>.position.` + consumer name. */
  positionPrefix: string
  /** `x-max-length-bytes`, from `durable.maxBytes`. */
  maxBytes: number
  /** `x-max-age` in whole seconds (`86400s`), from `durable.maxAgeMs` rounded up. */
  maxAge: string
  /** `x-stream-max-segment-size-bytes`: a tenth of `maxBytes` (at most RabbitMQ's 500 MB default). */
  segmentBytes: number
  consumerName: string | undefined
}

const DURABLE_DEFAULTS = { maxAgeMs: 86_400_000, maxBytes: 1_073_741_824 }
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

function positiveNumber(option: string, value: unknown, fallback: number, integer: boolean): number {
  if (value === undefined) return fallback
  const valid =
    typeof value === 'number' && value > 0 && (integer ? Number.isSafeInteger(value) : Number.isFinite(value))
  if (!valid) {
    const kind = integer ? 'a positive integer' : 'a positive number'
    throw new SyncConfigError(option, `Option "${option}" must be ${kind}, got ${String(value)}`)
  }
  return value
}

/**
 * Validates the `durable` option for RabbitMQ streams, naming the bad field; undefined when durable
 * delivery is off. Streams retain by bytes and age only, so `durable.maxMessages` is refused.
 */
export function parseAmqpDurable(options: ResolvedOptions): AmqpDurableSettings | undefined {
  const { durable, key } = options
  if (durable === undefined || durable === false) return undefined
  if (durable !== true && !isObject(durable)) {
    throw new SyncConfigError(
      'durable',
      'Option "durable" must be true, false or an object of retention options'
    )
  }
  const given: DurableOptions = durable === true ? {} : durable
  if (given.maxMessages !== undefined) {
    throw new SyncConfigError(
      'durable.maxMessages',
      'Option "durable.maxMessages" cannot be honoured by RabbitMQ streams, which retain by bytes and age only; set "durable.maxBytes" instead'
    )
  }
  const maxAgeMs = positiveNumber('durable.maxAgeMs', given.maxAgeMs, DURABLE_DEFAULTS.maxAgeMs, false)
  const maxBytes = positiveNumber('durable.maxBytes', given.maxBytes, DURABLE_DEFAULTS.maxBytes, true)
  const { consumerName } = given
  if (consumerName !== undefined && (typeof consumerName !== 'string' || consumerName === '')) {
    throw new SyncConfigError(
      'durable.consumerName',
      'Option "durable.consumerName" must be a non-empty string'
    )
  }
  const positionPrefix = `${key}.position.`
  if (consumerName !== undefined) checkQueueName('durable.consumerName', positionPrefix + consumerName)
  return {
    stream: checkQueueName('key', `${key}.stream`),
    positionPrefix,
    maxBytes,
    maxAge: `${Math.ceil(maxAgeMs / 1000)}s`,
    segmentBytes: Math.max(1, Math.min(MAX_SEGMENT_BYTES, Math.floor(maxBytes / 10))),
    consumerName
  }
}
