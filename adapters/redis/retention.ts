import { SyncConfigError } from '../../src/errors'
import type { ResolvedDurable } from '../../src/engine/options'

/** Durable mode on Redis: the keys it uses and how long the stream keeps messages. */
export interface RedisDurableSettings {
  /** The stream holding the channel's log: `{<key>}:log`. */
  stream: string
  /** Prefix of the keys holding named consumers' positions: `{<key>}:pos:` + consumer name. */
  positionPrefix: string
  /** Prefix of the keys holding each producer's last stored sequence: `{<key>}:producer:` + id. */
  producerPrefix: string
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

// Age trims run while publishing, at most once per tenth of the age limit, between these bounds:
// often enough that the stream is never much older than asked, rarely enough to cost nothing.
const MIN_TRIM_INTERVAL_MS = 100
const MAX_TRIM_INTERVAL_MS = 60_000

/**
 * Picks the key names of durable mode (the options were validated by the engine's parseOptions). The stream and
 * the position keys share the hash tag `{<key>}`, so on a Redis Cluster they live in one slot (one node).
 */
export function parseDurable(
  key: string,
  durable: ResolvedDurable | false
): RedisDurableSettings | undefined {
  if (durable === false) return undefined
  const { maxAgeMs, maxMessages, maxBytes, consumerName } = durable
  // `{}…` is an empty hash tag, which Redis ignores: the stream and positions could land on other slots.
  if (key.startsWith('}')) {
    throw new SyncConfigError('key', `With "durable", option "key" must not start with "}", got "${key}"`)
  }
  return {
    stream: `{${key}}:log`,
    positionPrefix: `{${key}}:pos:`,
    producerPrefix: `{${key}}:producer:`,
    maxMessages,
    maxAgeMs,
    maxBytes,
    consumerName,
    trimIntervalMs: Math.min(Math.max(maxAgeMs / 10, MIN_TRIM_INTERVAL_MS), MAX_TRIM_INTERVAL_MS)
  }
}
