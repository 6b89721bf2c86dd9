/**
 * Every error this library raises or reports. Each has a stable `code` to match on,
 * a `name` for logs, and wraps the driver error it came from in `cause`.
 */

/** Stable codes, one per error class below. */
export type SyncErrorCode =
  | 'SYNC_CONFIG'
  | 'SYNC_CONNECTION'
  | 'SYNC_SERIALIZATION'
  | 'SYNC_MESSAGE'
  | 'SYNC_PUBLISH'
  | 'SYNC_DELIVERY'
  | 'SYNC_OUTBOX_OVERFLOW'
  | 'SYNC_OVERSIZE'
  | 'SYNC_SERVICE_EVENTS'
  | 'SYNC_DEPENDENCY'
  | 'SYNC_DEAD_LETTER'
  | 'SYNC_GROUP'
  | 'SYNC_LOG_RESET'

export interface SyncErrorOptions {
  cause?: unknown
  /** Whether sending again may succeed; see {@link SyncError.retryable}. */
  retryable?: boolean
  /** A summary stands for this many reports of the same kind that were not raised one by one. */
  repeats?: number
}

/** Base class of every error of this library. */
export class SyncError extends Error {
  readonly code: SyncErrorCode
  /**
   * Whether the same message may get through if sent again (after a reconnect). An adapter that rejects a
   * publish with a non-retryable error (an oversize message) gets it dropped and counted, not resent.
   * Errors that are not SyncErrors (a driver's) count as retryable. @default true for connection and
   * publish errors, false for the rest
   */
  readonly retryable: boolean
  /**
   * Set on a summary of an error storm: how many reports of this kind (same code and drop reason) it
   * stands for, raised within one `errorReportIntervalMs` after the first one and counted in `stats()`.
   * @default undefined (a single report)
   */
  readonly repeats?: number

  constructor(code: SyncErrorCode, message: string, options: SyncErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.name = new.target.name
    this.retryable = options.retryable ?? (code === 'SYNC_CONNECTION' || code === 'SYNC_PUBLISH')
    if (options.repeats !== undefined) this.repeats = options.repeats
  }
}

/** Whether a failed publish may be sent again: driver errors yes, SyncErrors as they say. */
export const isRetryable = (error: unknown): boolean => !(error instanceof SyncError) || error.retryable

/** A bad option given to `sync()` or an adapter; thrown at configure time. */
export class SyncConfigError extends SyncError {
  /** The option that was wrong, e.g. `uri` or `serialize`. */
  readonly option: string

  constructor(option: string, message: string, options?: SyncErrorOptions) {
    super('SYNC_CONFIG', message, options)
    this.option = option
  }
}

/** The broker could not be reached, or the connection was lost. Never carries credentials. */
export class SyncConnectionError extends SyncError {
  /** `host:port` (or a list of them) that was tried, without credentials. */
  readonly target: string

  constructor(target: string, message: string, options?: SyncErrorOptions) {
    super('SYNC_CONNECTION', message, options)
    this.target = target
  }
}

/**
 * The subscription was lost while the connection may still be up: the exchange or queue was deleted
 * (AMQP), or the server took away the permission to subscribe (NATS). The adapter keeps trying to get
 * it back and reports `ready` once it has. Its `code` is `SYNC_CONNECTION`, like every connection loss.
 */
export class SyncSubscriptionError extends SyncConnectionError {
  /** What the subscription was on: the exchange (AMQP), subject (NATS) or channel (Redis). */
  readonly channel: string

  constructor(target: string, channel: string, message: string, options?: SyncErrorOptions) {
    super(target, message, options)
    this.channel = channel
  }
}

/**
 * How errors name a message: `"created" of service "users"`, or `topic "user.state"` for a message with
 * an empty path (a topic, not a service event).
 */
export const describeMessage = (path: string, event: string): string =>
  path === '' ? `topic "${event}"` : `"${event}" of service "${path}"`

/** An outgoing event could not be serialized. The local event was still emitted. */
export class SyncSerializationError extends SyncError {
  readonly path: string
  readonly event: string

  constructor(path: string, event: string, options?: SyncErrorOptions) {
    super('SYNC_SERIALIZATION', `Could not serialize ${describeMessage(path, event)}`, options)
    this.path = path
    this.event = event
  }
}

/** Why an incoming message was dropped. Each reason is counted in `stats().dropped`. */
export type DropReason =
  | 'undecodable'
  | 'shape'
  | 'unknownPath'
  | 'unknownEvent'
  | 'oversize'
  | 'duplicate'
  | 'ownEcho'
  | 'outboxOverflow'
  | 'serializeFailed'
  | 'unauthenticated'
  | 'unsent'
  | 'stale'
  | 'replayed'
  | 'missed'

/** An incoming message was dropped; `reason` says why. */
export class SyncMessageError extends SyncError {
  readonly reason: DropReason

  constructor(reason: DropReason, message: string, options?: SyncErrorOptions) {
    super('SYNC_MESSAGE', message, options)
    this.reason = reason
  }
}

/** The broker refused or failed to take a published message. */
export class SyncPublishError extends SyncError {
  constructor(message: string, options?: SyncErrorOptions) {
    super('SYNC_PUBLISH', message, options)
  }
}

/** A listener threw (or its promise rejected) while a message was being delivered to it. */
export class SyncDeliveryError extends SyncError {
  constructor(path: string, event: string, options?: SyncErrorOptions) {
    const message =
      path === ''
        ? `A handler of topic "${event}" failed on a message`
        : `A listener of "${event}" on service "${path}" threw on a remote event`
    super('SYNC_DELIVERY', message, options)
  }
}

/** The outbox was full while the broker was unreachable; the oldest message was dropped. */
export class SyncOutboxOverflowError extends SyncError {
  constructor(limit: string) {
    super('SYNC_OUTBOX_OVERFLOW', `Outbox full (${limit}): dropped the oldest queued message`)
  }
}

/** A message is larger than a limit: `maxMessageBytes`, or the broker's own (e.g. NATS `max_payload`). */
export class SyncOversizeError extends SyncError {
  /** Encoded size of the message in bytes. */
  readonly size: number
  /** The limit it exceeded, in bytes. */
  readonly limit: number

  constructor(size: number, limit: number, what: string) {
    super('SYNC_OVERSIZE', `${what} is ${size} bytes, over the limit of ${limit} bytes`)
    this.size = size
    this.limit = limit
  }
}

/**
 * The events of a service could not be read from the options its Feathers stored (an unusual Feathers
 * release, or a service object placed in `app.services` by hand). The service still syncs: the standard
 * events plus its own `events` list are assumed. Reported once per service.
 */
export class SyncServiceEventsError extends SyncError {
  /** Path of the service. */
  readonly path: string
  /** The events that are synced for it instead. */
  readonly assumed: readonly string[]

  constructor(path: string, assumed: readonly string[]) {
    super(
      'SYNC_SERVICE_EVENTS',
      `Could not read the events of service "${path}" from its Feathers options; ` +
        `syncing ${assumed.join(', ')}`
    )
    this.path = path
    this.assumed = assumed
  }
}

/** A feature needs an optional package that is not installed; `packageName` says which to install. */
export class SyncDependencyError extends SyncError {
  /** The npm package to install, e.g. `prom-client`. */
  readonly packageName: string

  constructor(packageName: string, feature: string, options?: SyncErrorOptions) {
    super(
      'SYNC_DEPENDENCY',
      `${feature} needs the optional package "${packageName}": install it with npm install ${packageName}`,
      options
    )
    this.packageName = packageName
  }
}

/**
 * A consumer group handler failed on every attempt (threw, rejected or timed out `maxAttempts` times):
 * the message was acknowledged, counted and kept as a dead letter the app can list and replay. Emitted
 * as `sync-dead-letter` (Feathers) or through the bus's `deadLetter` listener; never thrown.
 */
export class SyncDeadLetterError extends SyncError {
  /** The consumer group. */
  readonly group: string
  /** The dead letter's id, for `replay(group, id)`: the message's idempotency key. */
  readonly id: string
  /** How many times the handler ran on it. */
  readonly attempts: number

  constructor(group: string, id: string, what: string, attempts: number, options?: SyncErrorOptions) {
    super(
      'SYNC_DEAD_LETTER',
      `Consumer group "${group}" gave up on ${what} after ${attempts} attempts; kept as dead letter ${id}`,
      options
    )
    this.group = group
    this.id = id
    this.attempts = attempts
  }
}

/** A consumer group could not join, acknowledge or read its broker state; it keeps trying where it can. */
export class SyncGroupError extends SyncError {
  /** The consumer group. */
  readonly group: string

  constructor(group: string, message: string, options?: SyncErrorOptions) {
    super('SYNC_GROUP', message, { retryable: true, ...options })
    this.group = group
  }
}

/**
 * The broker lost a durable log, or part of it that this instance had already read: the stream key is
 * missing (deleted, flushed, evicted, or served by a node that does not hold it), or it now ends before
 * the last position this instance handled (a replica promoted behind its master, a restart from an older
 * snapshot, a stream created again). Reported, never thrown; the subscription reads on (see
 * docs/redis.md). Not retention: where this instance may have missed messages, a `sync-gap` with
 * `reason: 'lost'` follows.
 */
export class SyncLogResetError extends SyncError {
  /** The log, e.g. the Redis stream key. */
  readonly log: string
  /** The last position this instance had handled. */
  readonly after: string
  /** The log's newest position now; undefined when the log is missing. */
  readonly end: string | undefined

  constructor(log: string, after: string, end: string | undefined, message: string) {
    super('SYNC_LOG_RESET', message)
    this.log = log
    this.after = after
    this.end = end
  }
}
