import { SyncConfigError } from '../../src/errors'
import type { DurableOptions } from '../../src/options'

/** Durable mode on Redis: the keys it uses and how long the stream keeps messages. */
export interface RedisDurableSettings {
  /** The stream holding the channel's log: `{<key>}:log`. */
  stream: string
  /** Prefix of the keys holding named consumers' positions: `{<key>}:pos:` + consumer name. */
  positionPrefix: string
  /** `XADD … MAXLEN ~` this many entries. */
  maxMessages: number
  /** `XTRIM … MINID ~` entries older than this, in milliseconds. */
  maxAgeMs: number
  /** Validated for portability; Redis streams cannot be trimmed by size. */
  maxBytes: number
  consumerName: string | undefined
  /** Least time between two age trims by one instance, in milliseconds. */
  trimIntervalMs: number
}

/** Defaults of the `durable` option (see DurableOptions in src/options.ts). */
export const DURABLE_DEFAULTS = {
  maxMessages: 100_000,
  maxAgeMs: 86_400_000,
  maxBytes: 1_073_741_824
} as const

// Age trims run while publishing, at most once per tenth of the age limit, between these bounds:
// often enough that the stream is never much older than asked, rarely enough to cost nothing.
const MIN_TRIM_INTERVAL_MS = 100
const MAX_TRIM_INTERVAL_MS = 60_000

function positiveInteger(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new SyncConfigError(
      option,
      `Option "${option}" must be a positive whole number, got ${JSON.stringify(value)}`
    )
  }
  return value
}

/**
 * Validates the `durable` option for Redis, naming the bad field, and picks the key names. The stream and
 * the position keys share the hash tag `{<key>}`, so on a Redis Cluster they live in one slot (one node).
 */
export function parseDurable(key: string, durable: unknown): RedisDurableSettings | undefined {
  if (durable === undefined || durable === false) return undefined
  const isObject = typeof durable === 'object' && durable !== null && !Array.isArray(durable)
  if (durable !== true && !isObject) {
    throw new SyncConfigError(
      'durable',
      `Option "durable" must be true, false or an object of retention settings, got ${JSON.stringify(durable)}`
    )
  }
  const options: DurableOptions = durable === true ? {} : (durable as DurableOptions)
  const { consumerName } = options
  if (consumerName !== undefined && (typeof consumerName !== 'string' || consumerName === '')) {
    throw new SyncConfigError(
      'durable.consumerName',
      `Option "durable.consumerName" must be a non-empty string, got ${JSON.stringify(consumerName)}`
    )
  }
  // `{}…` is an empty hash tag, which Redis ignores: the stream and positions could land on other slots.
  if (key.startsWith('}')) {
    throw new SyncConfigError('key', `With "durable", option "key" must not start with "}", got "${key}"`)
  }
  const maxAgeMs = positiveInteger('durable.maxAgeMs', options.maxAgeMs, DURABLE_DEFAULTS.maxAgeMs)
  return {
    stream: `{${key}}:log`,
    positionPrefix: `{${key}}:pos:`,
    maxMessages: positiveInteger('durable.maxMessages', options.maxMessages, DURABLE_DEFAULTS.maxMessages),
    maxAgeMs,
    maxBytes: positiveInteger('durable.maxBytes', options.maxBytes, DURABLE_DEFAULTS.maxBytes),
    consumerName,
    trimIntervalMs: Math.min(Math.max(maxAgeMs / 10, MIN_TRIM_INTERVAL_MS), MAX_TRIM_INTERVAL_MS)
  }
}
