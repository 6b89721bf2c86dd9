import type { ConnectionOptions, NatsConnection } from 'nats'
import { SyncConfigError } from '../../src/errors'
import { redact, type ResolvedOptions } from '../../src/adapter'
import type { LivenessSettings } from './liveness'

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
   * @default { maxReconnectAttempts: -1, name: 'feathers-fanout', pingInterval: 2_000, maxPingOut: 1, reconnectTimeWait: 500 }
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

const DEFAULT_SERVER = '127.0.0.1:4222'
const DEFAULT_RESUBSCRIBE_MS = 2_000
// Node runs a timer with a longer delay after 1 ms instead, with a warning.
const MAX_TIMER_MS = 2_147_483_647
const SCHEMES = ['nats', 'tls']

interface Server {
  /** `host:port`, what both the client and the error messages get. */
  hostPort: string
  user?: string
  pass?: string
}

function parseServer(option: string, entry: unknown): Server {
  const text = typeof entry === 'string' ? entry.trim() : ''
  // The client ignores schemes and treats `host` like `nats://host`; URL needs a scheme to parse.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `nats://${text}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    url = new URL('invalid:')
  }
  if (text === '' || url.hostname === '') {
    const shown = typeof entry === 'string' ? `"${redact(entry)}"` : typeof entry
    throw new SyncConfigError(
      option,
      `Option "${option}" must be a NATS server like nats://host:4222, got ${shown}`
    )
  }
  const decode = (part: string) => {
    try {
      return part === '' ? undefined : decodeURIComponent(part)
    } catch {
      return part
    }
  }
  return {
    hostPort: `${url.hostname}:${url.port || 4222}`,
    user: decode(url.username),
    pass: decode(url.password)
  }
}

function serverList(options: ConnectionOptions): unknown[] {
  const { servers } = options
  if (servers === undefined) return []
  if (typeof servers === 'string') return [servers]
  if (Array.isArray(servers)) return servers
  throw new SyncConfigError(
    'natsConnectionOptions.servers',
    'Option "natsConnectionOptions.servers" must be a string or an array'
  )
}

/** `natsConnectionOptions.pingInterval` and `maxPingOut`, checked: they drive the adapter's own check. */
function livenessFrom(given: ConnectionOptions): LivenessSettings {
  const { pingInterval = DEFAULT_PING_INTERVAL_MS, maxPingOut = DEFAULT_MAX_PING_OUT } = given
  if (
    typeof pingInterval !== 'number' ||
    !Number.isFinite(pingInterval) ||
    pingInterval < 1 ||
    pingInterval > MAX_TIMER_MS
  ) {
    throw new SyncConfigError(
      'natsConnectionOptions.pingInterval',
      `Option "natsConnectionOptions.pingInterval" must be a number of ms from 1 to ${MAX_TIMER_MS}, got ${String(pingInterval)}`
    )
  }
  if (!Number.isInteger(maxPingOut) || maxPingOut < 1) {
    throw new SyncConfigError(
      'natsConnectionOptions.maxPingOut',
      `Option "natsConnectionOptions.maxPingOut" must be a whole number from 1, got ${String(maxPingOut)}`
    )
  }
  return { intervalMs: pingInterval, maxPingOut }
}

function connectionFrom(
  settings: ResolvedOptions & NatsAdapterOptions,
  liveness: LivenessSettings
): ConnectionOptions & { servers: string[] } {
  const given = settings.natsConnectionOptions ?? {}
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new SyncConfigError(
      'natsConnectionOptions',
      'Option "natsConnectionOptions" must be an object of nats connect() options'
    )
  }
  if (given.port !== undefined) {
    throw new SyncConfigError(
      'natsConnectionOptions.port',
      'Option "natsConnectionOptions.port" is not supported: use uri or servers'
    )
  }
  if (
    settings.uri !== undefined &&
    !SCHEMES.includes(settings.uri.slice(0, settings.uri.indexOf(':')).toLowerCase())
  ) {
    throw new SyncConfigError(
      'uri',
      'Option "uri" of the NATS adapter must start with nats:// (or tls:// to require TLS)'
    )
  }
  const fromUri = settings.uri === undefined ? undefined : parseServer('uri', settings.uri)
  const others = serverList(given).map(
    (entry) => parseServer('natsConnectionOptions.servers', entry).hostPort
  )
  const servers = [...new Set([...(fromUri ? [fromUri.hostPort] : []), ...others])]
  const auth: ConnectionOptions = {}
  const hasAuth = ['user', 'pass', 'token', 'authenticator'].some((name) => name in given)
  if (fromUri?.user !== undefined && !hasAuth) {
    // `nats://user:pass@host` carries a user, `nats://secret@host` a token: the client ignores both.
    if (fromUri.pass === undefined) auth.token = fromUri.user
    else Object.assign(auth, { user: fromUri.user, pass: fromUri.pass })
  }
  const tls = settings.uri?.toLowerCase().startsWith('tls:') && given.tls === undefined ? { tls: {} } : {}
  return {
    maxReconnectAttempts: -1,
    name: 'feathers-fanout',
    // Local-first senders drop their own echo anyway; the server need not send it.
    noEcho: settings.echo !== true,
    // The client's 2 s alone would put a restarted server's instances up to 2 s behind; an attempt
    // every half second against a server that is down costs next to nothing.
    reconnectTimeWait: DEFAULT_RECONNECT_WAIT_MS,
    ...given,
    ...auth,
    ...tls,
    // A hung server (SIGSTOP, a silent network) is found by the adapter's liveness check (within two
    // pings, ~4 s, by default). The client's own check would also drop a live connection whose PONG
    // waits behind a backlog of messages; it stays only as a far backstop.
    pingInterval: Math.max(liveness.intervalMs, BACKSTOP_PING_INTERVAL_MS),
    maxPingOut: Math.max(liveness.maxPingOut, BACKSTOP_MAX_PING_OUT),
    servers: servers.length > 0 ? servers : [DEFAULT_SERVER]
  }
}

/** Ms between reconnect attempts (the client's own default is 2 s); durable catch-up waits up to this. */
export const DEFAULT_RECONNECT_WAIT_MS = 500

/** The liveness check's period; with `maxPingOut: 1` a server that misses one ping counts as lost. */
export const DEFAULT_PING_INTERVAL_MS = 2_000
const DEFAULT_MAX_PING_OUT = 1
/** The client's own ping check, a backstop behind the adapter's: 90 to 120 s without a PONG. */
const BACKSTOP_PING_INTERVAL_MS = 30_000
const BACKSTOP_MAX_PING_OUT = 3

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

// Every instance retries at most this far apart, so by then the others are back too (plus a margin).
function resumeDelay(connection: ConnectionOptions): number {
  const jitter = connection.tls
    ? (connection.reconnectJitterTLS ?? 1_000)
    : (connection.reconnectJitter ?? 100)
  return (connection.reconnectTimeWait ?? DEFAULT_RECONNECT_WAIT_MS) + jitter + 500
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
