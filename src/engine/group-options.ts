import { SyncConfigError } from '../errors'

/** How a consumer group hands out, retries and gives up on messages. Every option is optional. */
export interface ConsumerGroupOptions {
  /**
   * Most messages this member holds unacknowledged at once; they are handled concurrently. On RabbitMQ the
   * channel's `basic.qos`, on NATS `max_ack_pending` per member's fetch. @default 10
   */
  prefetch?: number
  /**
   * How long the messages of a member that went silent (killed, hung, disconnected) stay with it before
   * another member takes them over, in ms. A live member keeps its messages however long its handler
   * runs. @default 30_000
   */
  claimAfterMs?: number
  /** How many times the handler runs on one message before it is dead-lettered. @default 5 */
  maxAttempts?: number
  /** How long one attempt may take before it counts as failed, in ms. @default 30_000 */
  timeoutMs?: number
  /** Wait before the first retry, in ms; doubled for each further retry. @default 1_000 */
  retryDelayMs?: number
  /** Longest wait between two attempts, in ms. @default 30_000 */
  maxRetryDelayMs?: number
  /** Most dead letters kept in process per group (the oldest go first). @default 1_000 */
  maxDeadLetters?: number
}

/** Every option of `ConsumerGroupOptions`; a missing or extra name does not compile. */
export const GROUP_OPTION_KEYS = {
  prefetch: true,
  claimAfterMs: true,
  maxAttempts: true,
  timeoutMs: true,
  retryDelayMs: true,
  maxRetryDelayMs: true,
  maxDeadLetters: true
} satisfies Record<keyof ConsumerGroupOptions, true>

export type ResolvedGroupOptions = Required<ConsumerGroupOptions>

export const GROUP_DEFAULTS: Readonly<ResolvedGroupOptions> = {
  prefetch: 10,
  claimAfterMs: 30_000,
  maxAttempts: 5,
  timeoutMs: 30_000,
  retryDelayMs: 1_000,
  maxRetryDelayMs: 30_000,
  maxDeadLetters: 1_000
}

/** Group names travel into broker object names (stream groups, JetStream consumers, queues). */
const GROUP_NAME = /^[A-Za-z0-9_-]{1,64}$/

/** @throws SyncConfigError naming `group` when it is not 1-64 letters, digits, `_` or `-` */
export function checkGroupName(group: unknown): string {
  if (typeof group !== 'string' || !GROUP_NAME.test(group)) {
    throw new SyncConfigError(
      'group',
      `A consumer group name must be 1-64 letters, digits, "_" or "-", got ${JSON.stringify(group)}`
    )
  }
  return group
}

function wholeNumber(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new SyncConfigError(
      name,
      `Option "${name}" of a consumer group must be a whole number >= ${min}, got ${String(value)}`
    )
  }
  return value
}

/**
 * Validates consumer group options, naming the bad one, and returns a new object with every default.
 * @throws SyncConfigError for an unknown name or a bad value
 */
export function parseGroupOptions(options: ConsumerGroupOptions = {}): ResolvedGroupOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new SyncConfigError('options', `Consumer group options must be an object, got ${String(options)}`)
  }
  for (const name of Object.keys(options)) {
    if (!(name in GROUP_OPTION_KEYS)) {
      const known = Object.keys(GROUP_OPTION_KEYS).join(', ')
      throw new SyncConfigError(name, `Unknown consumer group option "${name}"; known: ${known}`)
    }
  }
  const d = GROUP_DEFAULTS
  const resolved: ResolvedGroupOptions = {
    prefetch: wholeNumber('prefetch', options.prefetch, d.prefetch, 1),
    claimAfterMs: wholeNumber('claimAfterMs', options.claimAfterMs, d.claimAfterMs, 100),
    maxAttempts: wholeNumber('maxAttempts', options.maxAttempts, d.maxAttempts, 1),
    timeoutMs: wholeNumber('timeoutMs', options.timeoutMs, d.timeoutMs, 1),
    retryDelayMs: wholeNumber('retryDelayMs', options.retryDelayMs, d.retryDelayMs, 0),
    maxRetryDelayMs: wholeNumber('maxRetryDelayMs', options.maxRetryDelayMs, d.maxRetryDelayMs, 0),
    maxDeadLetters: wholeNumber('maxDeadLetters', options.maxDeadLetters, d.maxDeadLetters, 0)
  }
  if (resolved.maxRetryDelayMs < resolved.retryDelayMs) {
    throw new SyncConfigError(
      'maxRetryDelayMs',
      `Option "maxRetryDelayMs" (${resolved.maxRetryDelayMs}) must be >= "retryDelayMs" (${resolved.retryDelayMs})`
    )
  }
  return resolved
}

/** The name of the first option that differs between two resolved sets, if any. */
export function differingGroupOption(a: ResolvedGroupOptions, b: ResolvedGroupOptions): string | undefined {
  return (Object.keys(GROUP_OPTION_KEYS) as (keyof ResolvedGroupOptions)[]).find(
    (name) => a[name] !== b[name]
  )
}
