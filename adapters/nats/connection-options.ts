// The connection part of the NATS options: servers and credentials from `uri` and
// `natsConnectionOptions`, the liveness check's timings, and the delay before resuming after a reconnect.
import type { ConnectionOptions } from 'nats'
import { SyncConfigError } from '../../src/errors'
import { redact, type ResolvedOptions } from '../../src/adapter'
import type { LivenessSettings } from './liveness'

const DEFAULT_SERVER = '127.0.0.1:4222'
// Node runs a timer with a longer delay after 1 ms instead, with a warning.
export const MAX_TIMER_MS = 2_147_483_647
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
export function livenessFrom(given: ConnectionOptions): LivenessSettings {
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

export function connectionFrom(
  settings: ResolvedOptions & { natsConnectionOptions?: ConnectionOptions },
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
    // every quarter second against a server that is down costs next to nothing.
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
export const DEFAULT_RECONNECT_WAIT_MS = 250

/** The liveness check's period; with `maxPingOut: 1` a server that misses one ping counts as lost. */
export const DEFAULT_PING_INTERVAL_MS = 2_000
const DEFAULT_MAX_PING_OUT = 1
/** The client's own ping check, a backstop behind the adapter's: 90 to 120 s without a PONG. */
const BACKSTOP_PING_INTERVAL_MS = 30_000
const BACKSTOP_MAX_PING_OUT = 3

// Every instance retries at most this far apart, so by then the others are back too (plus a margin).
export function resumeDelay(connection: ConnectionOptions): number {
  const jitter = connection.tls
    ? (connection.reconnectJitterTLS ?? 1_000)
    : (connection.reconnectJitter ?? 100)
  return (connection.reconnectTimeWait ?? DEFAULT_RECONNECT_WAIT_MS) + jitter + 500
}
