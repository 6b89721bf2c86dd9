import type { ConnectionOptions, NatsConnection } from 'nats'
import { SyncConfigError } from '../../src/errors'
import type { ResolvedOptions } from '../../src/adapter'
import type { LivenessSettings } from './liveness'
import { connectionFrom, livenessFrom, MAX_TIMER_MS, resumeDelay } from './connection-options'

/** Options of the NATS adapter (`nats://host:port`, or `sync.nats()`). */
export interface NatsAdapterOptions {
  /**
   * Options for the `nats` client's `connect()`: auth (`user`/`pass`, `token`, `authenticator`), `tls`,
   * `name`, timings … Its `servers` are merged with `uri` without duplicates. Credentials in `uri`
   * (`nats://user:pass@host` or `nats://token@host`) are used unless these options set their own.
   * `pingInterval` (ms) and `maxPingOut` set the adapter's own liveness check: a PING every
   * `pingInterval` unless messages arrived meanwhile, stale after `maxPingOut` unanswered ones with
   * nothing received. The client's own ping check then runs only as a far backstop (every
   * `max(pingInterval, 30_000)` ms, at least 3 unanswered), so that a subscriber busy with a backlog,
   * which reads the server's PONG late, is not dropped with everything in flight.
   * @default { maxReconnectAttempts: -1, name: 'feathers-fanout', pingInterval: 2_000, maxPingOut: 1, reconnectTimeWait: 250 }
   */
  natsConnectionOptions?: ConnectionOptions
  /**
   * A connection you opened yourself. It is used for publishing and subscribing and is never
   * closed by this library: closing the app only removes its subscription.
   */
  natsConnection?: NatsConnection
  /**
   * Confirm each burst of publishes with a flush (one PING/PONG). Messages the server has not
   * confirmed when the connection drops are sent again after the reconnect, so none is lost;
   * receivers drop the rare copy that did get through (counted in `stats().dropped.duplicate`).
   * `false`: fire and forget, as NATS core does; the messages in flight at a drop may be lost.
   * @default true
   */
  confirmPublish?: boolean
  /**
   * With `durable`: how many servers of a JetStream cluster keep a copy of the channel's stream and of
   * the positions bucket (1 to 5; 3 survives the loss of any one server). Leave 1 on a single server.
   * @default 1
   */
  jetstreamReplicas?: number
  /**
   * Ms between two attempts to subscribe again after the server refused or took away the subscription
   * (a permission removed by a config reload, say) while the connection stayed up. The instance is
   * `reconnecting` until an attempt is accepted.
   * @default 2_000
   */
  natsResubscribeIntervalMs?: number
}

/** Every option of `NatsAdapterOptions`; a missing or extra name does not compile. */
export const NATS_OPTION_KEYS = {
  natsConnectionOptions: true,
  natsConnection: true,
  confirmPublish: true,
  jetstreamReplicas: true,
  natsResubscribeIntervalMs: true
} satisfies Record<keyof NatsAdapterOptions, true>

/** What the adapter needs, checked once at configure time. */
export interface NatsSettings {
  subject: string
  /** `host:port` list for messages, never credentials. */
  target: string
  /** Set when the user handed in a connection; `connection` is then unused. */
  natsConnection?: NatsConnection
  connection: ConnectionOptions
  /** The adapter's default of the core's `resumeDelayMs`, from the client's reconnect timings. */
  resumeDelayMs: number
  confirmPublish: boolean
  resubscribeIntervalMs: number
  /** The adapter's liveness check on a connection it opens; undefined for the user's own connection. */
  liveness?: LivenessSettings
}

const DEFAULT_RESUBSCRIBE_MS = 2_000

function isConnection(value: unknown): value is NatsConnection {
  const candidate = value as Partial<NatsConnection> | null
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    ['publish', 'subscribe', 'status', 'flush', 'closed', 'isClosed', 'getServer'].every(
      (method) => typeof (candidate as Record<string, unknown>)[method] === 'function'
    )
  )
}

function resubscribeInterval(value: unknown): number {
  if (value === undefined) return DEFAULT_RESUBSCRIBE_MS
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1 || value > MAX_TIMER_MS) {
    throw new SyncConfigError(
      'natsResubscribeIntervalMs',
      `Option "natsResubscribeIntervalMs" must be a number of ms from 1 to ${MAX_TIMER_MS}, got ${String(value)}`
    )
  }
  return value
}

/** Validates the NATS options, naming the bad one, and works out servers and credentials. */
export function parseNatsOptions(options: ResolvedOptions & NatsAdapterOptions): NatsSettings {
  const { natsConnection, key: subject, confirmPublish = true } = options
  const resubscribeIntervalMs = resubscribeInterval(options.natsResubscribeIntervalMs)
  if (typeof confirmPublish !== 'boolean') {
    throw new SyncConfigError(
      'confirmPublish',
      `Option "confirmPublish" must be true or false, got ${String(confirmPublish)}`
    )
  }
  if (/[\s*>]/.test(subject) || subject.startsWith('.') || subject.endsWith('.') || subject.includes('..')) {
    throw new SyncConfigError(
      'key',
      `Option "key" must be a NATS subject without spaces or wildcards, got "${subject}"`
    )
  }
  if (natsConnection !== undefined) {
    if (!isConnection(natsConnection)) {
      throw new SyncConfigError(
        'natsConnection',
        'Option "natsConnection" must be a connection from the nats package'
      )
    }
    if (options.natsConnectionOptions !== undefined) {
      const text =
        'Options "natsConnection" and "natsConnectionOptions" exclude each other: the connection is already open'
      throw new SyncConfigError('natsConnectionOptions', text)
    }
    const server = natsConnection.getServer()
    const target = server === '' ? 'nats connection' : server
    return {
      subject,
      target,
      natsConnection,
      connection: {},
      resumeDelayMs: resumeDelay({}),
      confirmPublish,
      resubscribeIntervalMs
    }
  }
  const liveness = livenessFrom(options.natsConnectionOptions ?? {})
  const connection = connectionFrom(options, liveness)
  const target = connection.servers.join(',')
  const resumeDelayMs = resumeDelay(connection)
  return { subject, target, connection, resumeDelayMs, confirmPublish, resubscribeIntervalMs, liveness }
}
