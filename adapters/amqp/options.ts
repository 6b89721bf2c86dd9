import type { SocketOptions } from 'amqplib'
import { SyncConfigError } from '../../src/errors'
import type { ResolvedOptions } from '../../src/adapter'
import { parseAddresses, targetOf } from './addresses'

/**
 * How to reach the broker: amqplib's socket options (TLS, `timeout`, `keepAlive`, `credentials`,
 * `clientProperties` …) plus the connection tuning that amqplib otherwise reads from the URI query.
 * A value given here wins over the same one in the URI query.
 */
export interface AmqpConnectionOptions extends SocketOptions {
  /** Disables Nagle's algorithm; without it amqplib adds ~20 ms to most messages. @default true */
  noDelay?: boolean
  /** Ms an attempt to open the socket and do the handshake may take. @default connectTimeoutMs */
  timeout?: number
  /** Heartbeat interval in seconds; `0` turns heartbeats off. A hung broker is noticed after 2–3 intervals. @default 5 */
  heartbeat?: number
  /** Largest frame in bytes. @default 131_072 */
  frameMax?: number
  /** Most channels the connection may open. @default 0 (the broker's limit) */
  channelMax?: number
  /** Largest frame accepted from the broker, in bytes; `0` for no limit. @default 64 MiB */
  maxFrameSize?: number
  /** Locale of the handshake. @default 'en_US' */
  locale?: string
  /** feathers-sync 3.x (amqp-connection-manager) name of `heartbeat`. @deprecated use `heartbeat` */
  heartbeatIntervalInSeconds?: number
  /** feathers-sync 3.x (amqp-connection-manager) socket options; merged in. @deprecated put them at the top level */
  connectionOptions?: SocketOptions
  /** feathers-sync 3.x (amqp-connection-manager) reconnect wait. @deprecated use `amqpRecovery.maxDelayMs` */
  reconnectTimeInSeconds?: number
}

/** Backoff between reconnect attempts (amqplib's built-in recovery, which never gives up here). */
export interface AmqpRecoveryOptions {
  /** Delay before the first attempt after a loss; doubles (with jitter) on each failure. @default 100 */
  initialDelayMs?: number
  /**
   * Longest delay between attempts; a broker back after a restart is found at most this long later, and
   * queued messages wait this plus 500 ms (`resumeDelayMs`). @default 250
   */
  maxDelayMs?: number
  /**
   * Ms between two checks that the exchange still exists and the instance's queue is bound to it.
   * RabbitMQ tells a consumer nothing when someone deletes the exchange: without the check an instance
   * that does not publish would stay `ready` and deaf. Each check is one `queue.bind` on the open
   * channel (idempotent); a missing exchange makes the adapter rebuild its topology. `0` turns it off.
   * @default 2_000
   */
  topologyCheckIntervalMs?: number
}

/** Options of the AMQP (RabbitMQ) adapter; `key` names the fanout exchange. */
export interface AmqpAdapterOptions {
  /** Socket, TLS and tuning options for amqplib; see docs/amqp.md. @default { noDelay: true, heartbeat: 5 } */
  amqpConnectionOptions?: AmqpConnectionOptions
  /** Reconnect backoff and topology checks. @default { initialDelayMs: 100, maxDelayMs: 250, topologyCheckIntervalMs: 2_000 } */
  amqpRecovery?: AmqpRecoveryOptions
  /**
   * With `durable`: on how many nodes of a RabbitMQ cluster the stream queue keeps a replica, sent as
   * `x-initial-cluster-size` when the adapter declares the stream (a whole number from 1). RabbitMQ
   * places at most one replica per node, so a number above the cluster's size means every node, and
   * confirms a publish once a majority of the replicas wrote it: 3 survives the loss of any one node.
   * RabbitMQ compares it on every declaration: a stream declared with another value, or without it (by
   * default), is refused (406), reported as a `SyncConfigError` naming this option; use one value everywhere.
   * @default RabbitMQ's: every node of the cluster running when the stream is declared
   */
  amqpStreamReplicas?: number
}

/** Every option of `AmqpAdapterOptions`; a missing or extra name does not compile. */
export const AMQP_OPTION_KEYS = {
  amqpConnectionOptions: true,
  amqpRecovery: true,
  amqpStreamReplicas: true
} satisfies Record<keyof AmqpAdapterOptions, true>

/** Everything the adapter needs, worked out once at configure time. */
export interface AmqpSettings {
  /** The (first) URI with tuning in its query; it may hold credentials, so it is never shown. */
  url: string
  /** `host:port` of the first address, for messages. */
  target: string
  /** Every address of `uri` with tuning in its query, in the order given (`urls[0]` is `url`). */
  urls: string[]
  /** `host:port` of each of `urls`. */
  targets: string[]
  socket: SocketOptions
  initialDelayMs: number
  maxDelayMs: number
  /** 0: no topology checks. */
  topologyCheckIntervalMs: number
  /** Content type stamped on published messages, when the serializer is a known one. */
  contentType: string | undefined
}

// Tuning fields amqplib takes from the URI query only, so they travel there.
const TUNING = ['heartbeat', 'frameMax', 'channelMax', 'maxFrameSize', 'locale'] as const
const COMPAT = ['heartbeatIntervalInSeconds', 'connectionOptions', 'reconnectTimeInSeconds'] as const
const DEFAULT_HEARTBEAT_S = 5
const DEFAULT_TOPOLOGY_CHECK_MS = 2_000
// Node runs a timer with a longer delay after 1 ms instead, with a warning.
const MAX_TIMER_MS = 2_147_483_647
// Recovery after a broker restart: a restart loop measured 0.1-1.2 s from broker ready to every
// instance ready at a 1 s cap; 5 s added up to 5 s per restart. Durable catch-up (within 1 s of the
// broker being back) needs the cap well below that; a refused TCP connect four times a second costs nothing.
const DEFAULT_MAX_DELAY_MS = 250

export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

function count(option: string, value: unknown, min: number): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new SyncConfigError(option, `Option "${option}" must be a number >= ${min}, got ${String(value)}`)
  }
  return value
}

function contentTypeOf(options: ResolvedOptions): string | undefined {
  // Custom encodings, and sealed frames (`secrets`), have no standard type to name.
  if (options.serialize !== undefined || options.secrets !== undefined) return undefined
  if (options.serializer === undefined || options.serializer === 'json') return 'application/json'
  return options.serializer === 'bson' ? 'application/bson' : undefined
}

/** Validates the AMQP options, naming the bad one, and resolves every default. */
export function parseAmqpOptions(options: ResolvedOptions & AmqpAdapterOptions): AmqpSettings {
  const { amqpConnectionOptions = {}, amqpRecovery = {} } = options
  if ((options as { amqpConnection?: unknown }).amqpConnection !== undefined) {
    throw new SyncConfigError(
      'amqpConnection',
      'Option "amqpConnection" is not supported yet; pass "uri" (and "amqpConnectionOptions")'
    )
  }
  if (!isObject(amqpConnectionOptions)) {
    throw new SyncConfigError('amqpConnectionOptions', 'Option "amqpConnectionOptions" must be an object')
  }
  if (!isObject(amqpRecovery)) {
    throw new SyncConfigError('amqpRecovery', 'Option "amqpRecovery" must be an object')
  }
  if ('findServers' in amqpConnectionOptions) {
    const message =
      'Option "amqpConnectionOptions.findServers" (amqp-connection-manager) is not supported; pass one "uri"'
    throw new SyncConfigError('amqpConnectionOptions.findServers', message)
  }
  const addresses = parseAddresses(options.uri)

  const {
    connectionOptions = {},
    heartbeatIntervalInSeconds,
    reconnectTimeInSeconds,
    ...given
  }: AmqpConnectionOptions = amqpConnectionOptions
  if (!isObject(connectionOptions)) {
    throw new SyncConfigError(
      'amqpConnectionOptions.connectionOptions',
      'Option "amqpConnectionOptions.connectionOptions" must be an object'
    )
  }
  const merged: Record<string, unknown> = { ...connectionOptions, ...given }
  const heartbeat = merged.heartbeat ?? heartbeatIntervalInSeconds
  count('amqpConnectionOptions.heartbeat', heartbeat, 0)
  const tuning: Record<string, unknown> = { ...merged, heartbeat }
  for (const url of addresses) {
    const own = { ...tuning }
    if (heartbeat === undefined && !url.searchParams.has('heartbeat')) own.heartbeat = DEFAULT_HEARTBEAT_S
    for (const name of TUNING) if (own[name] !== undefined) url.searchParams.set(name, String(own[name]))
  }
  for (const name of TUNING) delete merged[name]
  for (const name of COMPAT) delete merged[name]
  if (merged.noDelay !== undefined && typeof merged.noDelay !== 'boolean') {
    throw new SyncConfigError(
      'amqpConnectionOptions.noDelay',
      'Option "amqpConnectionOptions.noDelay" must be a boolean'
    )
  }
  const timeout = count('amqpConnectionOptions.timeout', merged.timeout, 1)
  const clientProperties = isObject(merged.clientProperties) ? merged.clientProperties : {}

  const initialDelayMs = count('amqpRecovery.initialDelayMs', amqpRecovery.initialDelayMs, 0) ?? 100
  const compatMaxDelay = count('amqpConnectionOptions.reconnectTimeInSeconds', reconnectTimeInSeconds, 0)
  const maxDelayMs =
    count('amqpRecovery.maxDelayMs', amqpRecovery.maxDelayMs, 0) ??
    (compatMaxDelay === undefined ? DEFAULT_MAX_DELAY_MS : compatMaxDelay * 1000)
  if (maxDelayMs < initialDelayMs) {
    throw new SyncConfigError(
      'amqpRecovery.maxDelayMs',
      'Option "amqpRecovery.maxDelayMs" must not be below "initialDelayMs"'
    )
  }
  const topologyCheckIntervalMs =
    count('amqpRecovery.topologyCheckIntervalMs', amqpRecovery.topologyCheckIntervalMs, 0) ??
    DEFAULT_TOPOLOGY_CHECK_MS
  if (topologyCheckIntervalMs > MAX_TIMER_MS) {
    throw new SyncConfigError(
      'amqpRecovery.topologyCheckIntervalMs',
      `Option "amqpRecovery.topologyCheckIntervalMs" must be at most ${MAX_TIMER_MS} (ms), got ${topologyCheckIntervalMs}`
    )
  }
  const urls = addresses.map((url) => url.toString())
  const targets = addresses.map(targetOf)
  return {
    url: urls[0],
    target: targets[0],
    urls,
    targets,
    socket: {
      ...merged,
      noDelay: merged.noDelay ?? true,
      timeout: timeout ?? options.connectTimeoutMs,
      // Shown in the broker's connection list, so operators can tell what a connection is.
      clientProperties: { connection_name: 'feathers-fanout', ...clientProperties }
    },
    initialDelayMs,
    maxDelayMs,
    topologyCheckIntervalMs,
    contentType: contentTypeOf(options)
  }
}
