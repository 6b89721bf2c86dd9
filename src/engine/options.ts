import type { Adapter } from '../adapter'
import { SyncConfigError } from '../errors'
import { checkSecurityOptions, type SecurityOptions } from '../protocol/security'
import type { SerializerOptions } from '../protocol/serializers'
import { parseBatch, type BatchOptions } from './batching'
import { OUTBOX_DEFAULTS, type OutboxOptions } from './outbox'
import { parseDurable, type DurableOptions, type ResolvedDurable } from './durable-options'
import { nonNegative, positive } from './option-numbers'

export { DURABLE_DEFAULTS, DURABLE_OPTION_KEYS } from './durable-options'
export type { DurableOptions, ResolvedDurable } from './durable-options'

/** Largest encoded message sent or accepted by default, in bytes (4 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024

/**
 * Options of the bus, whatever the framework: broker, channel, limits, security, serializer. Adapter
 * pages in docs/ list the options of each broker; the Feathers binding adds its own (emitOrder, context…).
 */
export interface BaseSyncOptions extends SecurityOptions, SerializerOptions {
  /** Largest encoded message sent or accepted, in bytes; larger ones are dropped before decoding. @default 4_194_304 (4 MiB) */
  maxMessageBytes?: number
  /** Broker address; its scheme picks the adapter (`redis://`, `amqp://`, `nats://`, `memory://` …). */
  uri?: string
  /** Channel, exchange or subject name. Same default as feathers-sync, so a drop-in keeps talking. @default 'feathers-sync' */
  key?: string
  /** An adapter object of your own (see docs/custom-adapters.md); `uri` is then not needed. */
  adapter?: Adapter
  /** How long `app.sync.ready` waits for the broker before it rejects (the adapter keeps trying). @default 10_000 */
  connectTimeoutMs?: number
  /** How long closing waits for queued messages to reach the broker. @default 5_000 */
  closeTimeoutMs?: number
  /** Limits of the queue used while the broker is unreachable. */
  outbox?: OutboxOptions
  /**
   * After a reconnect, how long to hold the messages queued during the outage before sending them, so
   * that the other instances, which reconnect on their own schedule, are subscribed again to receive
   * them (plain pub/sub keeps nothing for absent subscribers). Messages published meanwhile queue behind
   * them. Not applied on the first connect, nor when nothing is queued; closing sends at once. `0`: no hold.
   * @default the adapter's (its longest wait between reconnect attempts plus half a second): Redis 850,
   * NATS 850 (`reconnectTimeWait` + jitter + 500), RabbitMQ 750 (`amqpRecovery.maxDelayMs` + 500), memory
   * and cluster 0; 0 in durable mode
   */
  resumeDelayMs?: number
  /**
   * Durable, positioned delivery: events go through a log the broker keeps (a Redis stream, a JetStream
   * stream, a RabbitMQ stream queue), so an instance that was away gets what it missed. `true` takes
   * every default. See docs/delivery-guarantees.md. @default false (plain pub/sub, feathers-sync's wire)
   */
  durable?: boolean | DurableOptions
  /**
   * Batched frames: the events sent during one tick travel in one broker message (bounded by
   * `maxMessages`, `maxBytes`, `maxMessageBytes` and the broker's own limit, e.g. NATS `max_payload`),
   * so a burst costs the broker, the sockets and the receivers one message per frame instead of one per
   * event. Each event is still encoded, signed, numbered, checked for size, ordered and counted on its
   * own; an event too large alone is dropped as before. Receivers always read both forms, so batched and
   * unbatched instances of this library mix freely, but feathers-sync cannot read a batched frame: leave
   * it off while feathers-sync instances share the channel, and turn it on for an all-new fleet. With
   * `durable`, a frame is one message of the log (stored, acknowledged, resent and replayed whole; its
   * events get positions `<message>#<n>`), which is what makes a catch-up after an outage fast.
   * `true` takes every default. See docs/configuration.md. @default false (one broker message per event)
   */
  batch?: boolean | BatchOptions
  /**
   * Error storms: the first `sync-error` of a kind (code and drop reason) is emitted at once, later ones
   * within this many ms are counted (in `stats()`) and emitted as one summary when it ends
   * ("1,204 more undecodable messages in the last 10 s"). `0` emits every one. @default 10_000
   */
  errorReportIntervalMs?: number
  /**
   * With `@opentelemetry/api` installed and a tracer registered, each message carries the W3C trace
   * context of the call that raised it, and receivers run its listeners inside it. See
   * docs/operations.md. @default true
   */
  traceContext?: boolean
}

/** Every option of `BaseSyncOptions`; a missing or extra name does not compile. */
export const BASE_OPTION_KEYS = {
  uri: true,
  key: true,
  adapter: true,
  connectTimeoutMs: true,
  closeTimeoutMs: true,
  outbox: true,
  resumeDelayMs: true,
  durable: true,
  batch: true,
  maxMessageBytes: true,
  serializer: true,
  serialize: true,
  deserialize: true,
  secrets: true,
  encrypt: true,
  maxMessageAgeMs: true,
  errorReportIntervalMs: true,
  traceContext: true
} satisfies Record<keyof BaseSyncOptions, true>

/** Options of an adapter or binding after `parseOptions`: theirs as given, the bus's resolved. */
export type Resolved<O> = Omit<O, keyof EngineOptions> & EngineOptions

/** Bus options after validation, with every default filled in; what the engine and adapters read. */
export type EngineOptions = Omit<BaseSyncOptions, 'durable' | 'batch'> & {
  durable: ResolvedDurable | false
  /** Frame limits, or `false`: one broker message per event. */
  batch: Required<BatchOptions> | false
  /**
   * Whether this instance needs its own messages handed back (a binding that emits in broker order);
   * otherwise an adapter may let the broker skip them (NATS `noEcho`). Set by the binding. @default false
   */
  echo?: boolean
  key: string
  maxMessageBytes: number
  connectTimeoutMs: number
  closeTimeoutMs: number
  errorReportIntervalMs: number
  traceContext: boolean
  outbox: Required<OutboxOptions>
}

export const DEFAULT_KEY = 'feathers-sync'

/** Window of one error-storm summary, in ms. */
export const DEFAULT_ERROR_REPORT_INTERVAL_MS = 10_000

/**
 * Validates the bus options once, naming the bad one, and returns a new object with defaults. Options it
 * does not know (an adapter's, a binding's) are copied through for their owners to check; their names
 * are checked by `checkOptionNames` (src/option-names.ts) before this.
 */
export function parseOptions<O extends BaseSyncOptions>(options: O): Resolved<O> {
  if (typeof options !== 'object' || options === null) {
    throw new SyncConfigError(
      'options',
      `sync() expects an options object or a URI string, got ${options === null ? 'null' : typeof options}`
    )
  }
  const { uri, key = DEFAULT_KEY, outbox = {}, secrets, encrypt } = options
  if (uri !== undefined && (typeof uri !== 'string' || uri === '')) {
    throw new SyncConfigError('uri', `Option "uri" must be a non-empty string, got ${JSON.stringify(uri)}`)
  }
  if (typeof key !== 'string' || key === '') {
    throw new SyncConfigError('key', `Option "key" must be a non-empty string, got ${JSON.stringify(key)}`)
  }
  if (encrypt !== undefined && typeof encrypt !== 'boolean') {
    throw new SyncConfigError('encrypt', `Option "encrypt" must be true or false, got ${String(encrypt)}`)
  }
  if (encrypt && secrets === undefined) {
    throw new SyncConfigError('encrypt', 'Option "encrypt" needs "secrets" to derive the encryption key from')
  }
  if (options.traceContext !== undefined && typeof options.traceContext !== 'boolean') {
    throw new SyncConfigError(
      'traceContext',
      `Option "traceContext" must be true or false, got ${String(options.traceContext)}`
    )
  }
  // Every secret is checked now rather than when the first message flows.
  if (secrets !== undefined) checkSecurityOptions(options)
  return {
    ...options,
    maxMessageBytes: positive('maxMessageBytes', options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES),
    key,
    connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs, 10_000),
    closeTimeoutMs: positive('closeTimeoutMs', options.closeTimeoutMs, 5_000),
    resumeDelayMs: nonNegative('resumeDelayMs', options.resumeDelayMs),
    errorReportIntervalMs:
      nonNegative('errorReportIntervalMs', options.errorReportIntervalMs) ?? DEFAULT_ERROR_REPORT_INTERVAL_MS,
    traceContext: options.traceContext ?? true,
    durable: parseDurable(options.durable),
    batch: parseBatch(options.batch),
    outbox: {
      maxMessages: positive('outbox.maxMessages', outbox.maxMessages, OUTBOX_DEFAULTS.maxMessages),
      maxBytes: positive('outbox.maxBytes', outbox.maxBytes, OUTBOX_DEFAULTS.maxBytes)
    }
  }
}

/** The URI scheme without its colon, e.g. `redis` for `redis://host`. */
export function schemeOf(uri: string): string {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(uri)
  if (!match) throw new SyncConfigError('uri', `Option "uri" has no scheme: "${redact(uri)}"`)
  return match[1].toLowerCase()
}

/**
 * A URI safe to show: everything before the last `@` (user, password, even one with `/` or `@` in it)
 * replaced by `***`.
 */
export function redact(uri: string): string {
  return uri.replace(
    /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)?[^]*@/,
    (_match, scheme?: string) => `${scheme ?? ''}***@`
  )
}
