// Durable delivery's options: retention and naming, their defaults, and their validation.
import { SyncConfigError } from '../errors'
import { whole } from './option-numbers'

/** Retention and naming of durable delivery. */
export interface DurableOptions {
  /** Most messages the broker keeps per channel (older ones are trimmed). @default 100_000 */
  maxMessages?: number
  /** Oldest message the broker keeps, in milliseconds. @default 86_400_000 (24 h) */
  maxAgeMs?: number
  /**
   * Most bytes the broker keeps per channel. RabbitMQ streams retain by bytes and age only (whole
   * segments), so there it replaces `maxMessages`. @default 1_073_741_824 (1 GiB)
   */
  maxBytes?: number
  /**
   * A stable name for this instance (e.g. the pod name of a StatefulSet). A named instance resumes after
   * its own restart where it stopped, its position kept in the broker; an unnamed one starts at the tail.
   */
  consumerName?: string
}

/** Durable options after validation: every default filled in, or `false` for plain pub/sub. */
export type ResolvedDurable = Required<Omit<DurableOptions, 'consumerName'>> &
  Pick<DurableOptions, 'consumerName'> & {
    /** What the user set, before defaults: an adapter that cannot honour a limit refuses it by name. */
    readonly given: Readonly<DurableOptions>
  }

/** Every option of `DurableOptions`; a missing or extra name does not compile. */
export const DURABLE_OPTION_KEYS = {
  maxMessages: true,
  maxAgeMs: true,
  maxBytes: true,
  consumerName: true
} satisfies Record<keyof DurableOptions, true>

export const DURABLE_DEFAULTS: Readonly<Required<Omit<DurableOptions, 'consumerName'>>> = {
  maxMessages: 100_000,
  maxAgeMs: 86_400_000,
  maxBytes: 1_073_741_824
}

/** Validates `durable`, naming the bad option; `false` for plain pub/sub. */
export function parseDurable(durable: boolean | DurableOptions | undefined): ResolvedDurable | false {
  if (durable === undefined || durable === false) return false
  if (durable === true) return { ...DURABLE_DEFAULTS, given: {} }
  if (typeof durable !== 'object' || durable === null || Array.isArray(durable)) {
    throw new SyncConfigError(
      'durable',
      `Option "durable" must be true, false or an object, got ${String(durable)}`
    )
  }
  const { consumerName } = durable
  if (
    consumerName !== undefined &&
    (typeof consumerName !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(consumerName))
  ) {
    throw new SyncConfigError(
      'durable.consumerName',
      `Option "durable.consumerName" must be 1-64 letters, digits, "_" or "-", got ${JSON.stringify(consumerName)}`
    )
  }
  return {
    maxMessages: whole('durable.maxMessages', durable.maxMessages, DURABLE_DEFAULTS.maxMessages),
    maxAgeMs: whole('durable.maxAgeMs', durable.maxAgeMs, DURABLE_DEFAULTS.maxAgeMs),
    maxBytes: whole('durable.maxBytes', durable.maxBytes, DURABLE_DEFAULTS.maxBytes),
    given: { ...durable },
    ...(consumerName === undefined ? {} : { consumerName })
  }
}
