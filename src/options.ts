import type { AmqpAdapterOptions } from '../adapters/amqp'
import type { MemoryAdapterOptions } from '../adapters/memory'
import type { NatsAdapterOptions } from '../adapters/nats'
import type { RedisAdapterOptions } from '../adapters/redis'
import type { Adapter } from './adapter'
import { DEFAULT_MAX_MESSAGE_BYTES, type CoreOptions } from './core'
import { SyncConfigError } from './errors'
import { checkOptionNames } from './option-names'
import { OUTBOX_DEFAULTS, type OutboxOptions } from './outbox'
import { Sealer } from './security'
import type { SerializerOptions } from './serializers'

/** Options every adapter accepts. Adapter pages in docs/ list the options of each broker. */
export interface BaseSyncOptions extends CoreOptions, SerializerOptions {
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
   * @default the adapter's (about one reconnect interval plus a margin): Redis 2_600, NATS 2_600, RabbitMQ 5_500, memory and cluster 0
   */
  resumeDelayMs?: number
}

/** Options of `sync()`: the common ones plus those of each built-in adapter. */
export type SyncOptions = BaseSyncOptions &
  MemoryAdapterOptions &
  AmqpAdapterOptions &
  NatsAdapterOptions &
  RedisAdapterOptions

/** Options after validation, with every default filled in. */
export type ResolvedOptions = SyncOptions & {
  key: string
  connectTimeoutMs: number
  closeTimeoutMs: number
  outbox: Required<OutboxOptions>
}

export const DEFAULT_KEY = 'feathers-sync'

/** A number >= 0 or undefined (the adapter then decides). */
function nonNegative(option: string, value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new SyncConfigError(option, `Option "${option}" must be a number >= 0, got ${String(value)}`)
  }
  return value
}

function positive(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new SyncConfigError(option, `Option "${option}" must be a positive number, got ${String(value)}`)
  }
  return value
}

/**
 * Validates the options once, naming the bad one, and returns a new object with defaults. A string is
 * taken as the `uri`: `sync('redis://host:6379')`.
 */
export function parseOptions(input: SyncOptions | string): ResolvedOptions {
  const options: SyncOptions = typeof input === 'string' ? { uri: input } : input
  if (typeof options !== 'object' || options === null) {
    throw new SyncConfigError(
      'options',
      `sync() expects an options object or a URI string, got ${options === null ? 'null' : typeof options}`
    )
  }
  checkOptionNames(options)
  const { uri, key = DEFAULT_KEY, emitOrder, context, contextParams, outbox = {}, secrets, encrypt } = options
  if (uri !== undefined && (typeof uri !== 'string' || uri === '')) {
    throw new SyncConfigError('uri', `Option "uri" must be a non-empty string, got ${JSON.stringify(uri)}`)
  }
  if (typeof key !== 'string' || key === '') {
    throw new SyncConfigError('key', `Option "key" must be a non-empty string, got ${JSON.stringify(key)}`)
  }
  if (emitOrder !== undefined && emitOrder !== 'local-first' && emitOrder !== 'broker') {
    throw new SyncConfigError(
      'emitOrder',
      `Option "emitOrder" must be 'local-first' or 'broker', got ${String(emitOrder)}`
    )
  }
  if (context !== undefined && typeof context !== 'function') {
    throw new SyncConfigError(
      'context',
      `Option "context" must be a function of the hook context, got ${typeof context}`
    )
  }
  if (options.includeResult !== undefined && typeof options.includeResult !== 'boolean') {
    throw new SyncConfigError('includeResult', `Option "includeResult" must be true or false`)
  }
  if (
    contextParams !== undefined &&
    (!Array.isArray(contextParams) || contextParams.some((p) => typeof p !== 'string'))
  ) {
    throw new SyncConfigError('contextParams', 'Option "contextParams" must be an array of parameter names')
  }
  if (encrypt !== undefined && typeof encrypt !== 'boolean') {
    throw new SyncConfigError('encrypt', `Option "encrypt" must be true or false, got ${String(encrypt)}`)
  }
  if (encrypt && secrets === undefined) {
    throw new SyncConfigError('encrypt', 'Option "encrypt" needs "secrets" to derive the encryption key from')
  }
  // Constructing the sealer checks every secret now rather than when the first message flows.
  if (secrets !== undefined) new Sealer(options)
  return {
    ...options,
    maxMessageBytes: positive('maxMessageBytes', options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES),
    key,
    connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs, 10_000),
    closeTimeoutMs: positive('closeTimeoutMs', options.closeTimeoutMs, 5_000),
    resumeDelayMs: nonNegative('resumeDelayMs', options.resumeDelayMs),
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

const MAX_COMPARE_DEPTH = 32

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== 'object' || value === null) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * The first option (a dotted path) whose value differs between two sets of resolved options, or
 * `undefined` when they are the same. Plain objects and arrays are compared by content, bytes by value,
 * everything else (functions, clients, adapters) by identity. A missing option equals `undefined`.
 */
export function differingOption(before: unknown, now: unknown, path = '', depth = 0): string | undefined {
  if (Object.is(before, now)) return undefined
  const here = path === '' ? 'options' : path
  if (depth > MAX_COMPARE_DEPTH) return here
  if (before instanceof Uint8Array && now instanceof Uint8Array) {
    return Buffer.compare(before, now) === 0 ? undefined : here
  }
  if (Array.isArray(before) && Array.isArray(now)) {
    if (before.length !== now.length) return here
    const same = before.every((item, i) => differingOption(item, now[i], here, depth + 1) === undefined)
    return same ? undefined : here
  }
  if (!isPlainObject(before) || !isPlainObject(now)) return here
  for (const key of new Set([...Object.keys(before), ...Object.keys(now)])) {
    const found = differingOption(before[key], now[key], path === '' ? key : `${path}.${key}`, depth + 1)
    if (found !== undefined) return found
  }
  return undefined
}
