import { createHash } from 'node:crypto'
import { SyncConfigError } from '../../src/errors'
import type { ResolvedOptions } from '../../src/adapter'
import type { NatsAdapterOptions } from './options'

/** Durable delivery's settings on NATS, checked once at configure time. */
export interface NatsDurableSettings {
  /** The JetStream stream of the channel (see {@link streamName}). */
  stream: string
  /** The subject the stream holds: `<key>.log`, distinct from the pub/sub subject `<key>`. */
  subject: string
  /** The channel's `key`, for the position keys. */
  channel: string
  maxMessages: number
  maxAgeMs: number
  maxBytes: number
  /** Copies of the stream and of the positions bucket in a cluster (1 on a single server). */
  replicas: number
}

/** Where named consumers' positions are kept: one JetStream key-value bucket for every channel. */
export const POSITIONS_BUCKET = 'fanout_positions'

function wholePositive(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new SyncConfigError(option, `Option "${option}" must be a whole number > 0, got ${String(value)}`)
  }
  return value
}

/** Text that only uses `[A-Za-z0-9_-]`: base64url without padding. */
const encode = (text: string): string => Buffer.from(text).toString('base64url')

/**
 * A stream name for `key`. Stream names may not hold `.`, `*`, `>`, spaces or path separators, so the
 * key's other characters become `_`; a hash of the whole key keeps two keys that read alike apart
 * (`a.b` and `a_b`). E.g. `feathers-sync` → `fanout_feathers-sync_1f0e3dad99`.
 */
export function streamName(key: string): string {
  const readable = key.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64)
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 10)
  return `fanout_${readable}_${hash}`
}

/**
 * The bucket key of consumer `name` on `channel`. Both parts are base64url, which has no `.`, so no two
 * (channel, name) pairs share a key.
 */
export const positionKey = (channel: string, name: string): string => `${encode(channel)}.${encode(name)}`

/** Validates `durable` (and `jetstreamReplicas`); undefined when durable delivery is off. */
export function parseNatsDurable(
  options: ResolvedOptions & NatsAdapterOptions
): NatsDurableSettings | undefined {
  const { durable, key, jetstreamReplicas } = options
  if (durable === false) {
    if (jetstreamReplicas !== undefined) {
      throw new SyncConfigError('jetstreamReplicas', 'Option "jetstreamReplicas" needs "durable"')
    }
    return undefined
  }
  const replicas = wholePositive('jetstreamReplicas', jetstreamReplicas, 1)
  if (replicas > 5) {
    throw new SyncConfigError(
      'jetstreamReplicas',
      `Option "jetstreamReplicas" must be 1 to 5, got ${replicas}`
    )
  }
  return {
    stream: streamName(key),
    subject: `${key}.log`,
    channel: key,
    // Validated with their defaults by the engine's parseOptions.
    maxMessages: durable.maxMessages,
    maxAgeMs: durable.maxAgeMs,
    maxBytes: durable.maxBytes,
    replicas
  }
}
