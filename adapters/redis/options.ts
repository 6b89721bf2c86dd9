import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis'
import { SyncConfigError } from '../../src/errors'
import { redact, type ResolvedOptions } from '../../src/adapter'
import { parseDurable, type RedisDurableSettings } from './retention'

/** Options of the Redis adapter (also for DragonFly, Valkey, KeyDB and other Redis-compatible servers). */
export interface RedisAdapterOptions {
  /**
   * An ioredis `Redis` or `Cluster` client of yours. It publishes; a duplicate of it subscribes.
   * The adapter closes the duplicate only, never your client. A `uri` given too is ignored.
   */
  redisClient?: Redis | Cluster
  /**
   * ioredis options for the connections the adapter opens. What `uri` sets (host, port,
   * credentials, db, TLS) wins; these add the rest, e.g. `tls` settings, `sentinels` + `name`
   * for Sentinel, `retryStrategy`. With `clusterNodes` they apply to every node.
   * @default {} (see docs/redis.md for the adapter's own defaults)
   */
  redisOptions?: RedisOptions
  /** Seed nodes of a Redis Cluster, e.g. `[{ host, port }]`; the adapter opens its own ioredis `Cluster`. */
  clusterNodes?: ClusterNode[]
  /** ioredis `Cluster` options, used with `clusterNodes`. @default {} */
  clusterOptions?: ClusterOptions
  /**
   * Sharded pub/sub (`SPUBLISH` / `SSUBSCRIBE`, Redis >= 7): on a Cluster, messages stay on the
   * shard that owns the channel instead of being broadcast to every node. feathers-sync 3.x
   * instances do not hear sharded messages.
   * @default false
   */
  sharded?: boolean
  /**
   * Every this many ms the adapter PINGs each of its connections; one that does not answer within
   * `heartbeatTimeoutMs`, and heard nothing else from Redis meanwhile, counts as lost (status
   * `reconnecting`, publishes wait in the outbox) and, if the adapter opened it, is reconnected. This is how a hung server (SIGSTOP, a silent network) is noticed
   * within two heartbeats instead of when TCP gives up. `0` turns it off. @default 2_000
   */
  heartbeatIntervalMs?: number
  /**
   * How long a PING, and a publish on a connection the adapter opened (ioredis `commandTimeout`), may
   * wait for Redis before the connection counts as hung. @default 2_000
   */
  heartbeatTimeoutMs?: number
}

/** Every option of `RedisAdapterOptions`; a missing or extra name does not compile. */
export const REDIS_OPTION_KEYS = {
  redisClient: true,
  redisOptions: true,
  clusterNodes: true,
  clusterOptions: true,
  sharded: true,
  heartbeatIntervalMs: true,
  heartbeatTimeoutMs: true
} satisfies Record<keyof RedisAdapterOptions, true>

/** Where and how to connect, decided once at configure time. */
export type RedisPlan =
  | { kind: 'client'; client: Redis | Cluster }
  | { kind: 'standalone'; uri: string | undefined; redisOptions: RedisOptions }
  | { kind: 'cluster'; nodes: ClusterNode[]; clusterOptions: ClusterOptions }

/** Validated adapter settings. */
export interface RedisSettings {
  plan: RedisPlan
  channel: string
  sharded: boolean
  /** `host:port` list for messages, never credentials. */
  target: string
  /** Durable mode's stream and retention; undefined for plain pub/sub. */
  durable: RedisDurableSettings | undefined
  /** PING period and answer timeout, in ms; `intervalMs` 0 when off. */
  heartbeat: { intervalMs: number; timeoutMs: number }
}

export const HEARTBEAT_DEFAULTS = { intervalMs: 2_000, timeoutMs: 2_000 }

function millis(option: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new SyncConfigError(
      option,
      `Option "${option}" must be a number >= ${min} (ms), got ${String(value)}`
    )
  }
  return value
}

const DEFAULT_HOST = 'localhost'
const DEFAULT_PORT = 6379

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

// Not a type guard on purpose: narrowing typed options to a record would lose their types.
const isPlain = (value: unknown): boolean => isObject(value)

const address = (host: unknown, port: unknown): string =>
  `${typeof host === 'string' && host !== '' ? host : DEFAULT_HOST}:${port ?? DEFAULT_PORT}`

/** `host:port` of one ioredis cluster node spec (a port, `'host:port'`, a URL or `{ host, port }`), never credentials. */
function nodeAddress(node: unknown): string {
  const port = typeof node === 'number' || (typeof node === 'string' && /^\d+$/.test(node))
  if (port) return address(undefined, node)
  if (typeof node === 'string' && node.includes('://')) {
    const url = URL.canParse(node) ? new URL(node) : undefined
    return url ? address(url.hostname, url.port === '' ? undefined : url.port) : 'invalid-node'
  }
  if (typeof node === 'string') return node.includes(':') ? node : address(node, undefined)
  return isObject(node) ? address(node.host, node.port) : 'invalid-node'
}

function standaloneTarget(uri: string | undefined, options: RedisOptions): string {
  if (Array.isArray(options.sentinels) && options.sentinels.length > 0) {
    return options.sentinels.map((sentinel) => address(sentinel.host, sentinel.port ?? 26_379)).join(',')
  }
  if (uri !== undefined) {
    const url = new URL(uri)
    return address(url.hostname.replace(/^\[|\]$/g, ''), url.port === '' ? undefined : url.port)
  }
  if (typeof options.path === 'string') return options.path
  return address(options.host, options.port)
}

/** Where a client of the user's connects, read from the client itself. */
function clientTarget(client: Redis | Cluster): string {
  if (client.isCluster) {
    // ioredis keeps the seed list private; it is the only address a Cluster has before it connects.
    const seeds: unknown = Reflect.get(client, 'startupNodes')
    return Array.isArray(seeds) && seeds.length > 0 ? seeds.map(nodeAddress).join(',') : 'redis-cluster'
  }
  return standaloneTarget(undefined, (client as Redis).options)
}

function checkUri(uri: string | undefined): void {
  if (uri === undefined) return
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    // No `cause`: the URL error's `input` would carry the password.
    throw new SyncConfigError('uri', `Option "uri" is not a valid URL: "${redact(uri)}"`)
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new SyncConfigError(
      'uri',
      `The Redis adapter needs a redis:// or rediss:// uri, got "${redact(uri)}"`
    )
  }
}

/** Validates the Redis options, naming the bad one, and decides how to connect. */
export function parseRedisOptions(options: ResolvedOptions & RedisAdapterOptions): RedisSettings {
  const { uri, redisClient, redisOptions = {}, clusterNodes, clusterOptions = {}, sharded = false } = options
  if (typeof sharded !== 'boolean') {
    throw new SyncConfigError('sharded', `Option "sharded" must be true or false, got ${String(sharded)}`)
  }
  if (!isPlain(redisOptions))
    throw new SyncConfigError('redisOptions', 'Option "redisOptions" must be an object')
  if (!isPlain(clusterOptions)) {
    throw new SyncConfigError('clusterOptions', 'Option "clusterOptions" must be an object')
  }
  const heartbeat = {
    intervalMs: millis('heartbeatIntervalMs', options.heartbeatIntervalMs, HEARTBEAT_DEFAULTS.intervalMs, 0),
    timeoutMs: millis('heartbeatTimeoutMs', options.heartbeatTimeoutMs, HEARTBEAT_DEFAULTS.timeoutMs, 1)
  }
  const settings = {
    channel: options.key,
    sharded,
    durable: parseDurable(options.key, options.durable),
    heartbeat
  }

  if (redisClient !== undefined) {
    const client = redisClient as Partial<Redis>
    if (!isObject(client) || typeof client.duplicate !== 'function' || typeof client.status !== 'string') {
      throw new SyncConfigError(
        'redisClient',
        'Option "redisClient" must be an ioredis Redis or Cluster client (node-redis clients are not supported)'
      )
    }
    if (clusterNodes !== undefined) {
      throw new SyncConfigError('clusterNodes', 'Give either "redisClient" or "clusterNodes", not both')
    }
    return { ...settings, plan: { kind: 'client', client: redisClient }, target: clientTarget(redisClient) }
  }

  checkUri(uri)
  if (clusterNodes !== undefined) {
    if (!Array.isArray(clusterNodes) || clusterNodes.length === 0) {
      throw new SyncConfigError('clusterNodes', 'Option "clusterNodes" must be a non-empty array of nodes')
    }
    if (uri !== undefined) {
      throw new SyncConfigError('clusterNodes', 'Give either "uri" or "clusterNodes", not both')
    }
    const merged: ClusterOptions = {
      ...clusterOptions,
      redisOptions: { ...redisOptions, ...clusterOptions.redisOptions } as ClusterOptions['redisOptions']
    }
    const target = clusterNodes.map(nodeAddress).join(',')
    return { ...settings, plan: { kind: 'cluster', nodes: clusterNodes, clusterOptions: merged }, target }
  }
  const target = standaloneTarget(uri, redisOptions)
  // ioredis turns TLS on only for a lowercase `rediss://`.
  const normalized = uri?.replace(/^[a-z]+:/i, (scheme) => scheme.toLowerCase())
  return { ...settings, plan: { kind: 'standalone', uri: normalized, redisOptions }, target }
}
