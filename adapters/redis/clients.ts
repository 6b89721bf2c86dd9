import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import { SyncConfigError } from '../../src/errors'
import type { Payload } from '../../src/adapter'
import { guardSocketErrors } from './guard'
import type { RedisPlan, RedisSettings } from './options'

/** A standalone (or Sentinel) client, or a Cluster client. */
export type RedisClient = Redis | Cluster

/** The two long-lived connections of one adapter. */
export interface RedisConnections {
  pub: RedisClient
  sub: RedisClient
  /** Whether the adapter opened `pub` and must close it; `sub` is always the adapter's own. */
  ownsPub: boolean
}

const CLOSE_TIMEOUT_MS = 2_000
// ioredis arms a `disconnectTimeout` timer (default 2 s, not unref'd) even when the socket is already
// gone, e.g. when closing during an outage, which keeps the process alive. Nothing is left to flush
// when the adapter closes (the core waited for every publish), so a short bound costs nothing.
const DISCONNECT_TIMEOUT_MS = 200

/**
 * Backoff with jitter, capped low: a sync channel is worth getting back quickly. The cap bounds how long
 * an instance stays away once Redis is reachable again (durable mode delivers what it missed within
 * about that). An instance is back only once both its connections are (publisher and subscriber or
 * reader), each on its own timer, so it waits for the later of two attempts: hence a quarter of a second
 * rather than the half second of the NATS and RabbitMQ adapters' single connection. Measured with the
 * durable fault suite on a quiet machine: ready 0.47-0.54 s after a broker restart with a 500 ms cap,
 * 0.17 s with 250 ms. An attempt against a Redis that is down is refused at once and costs next to nothing.
 */
export const MAX_RETRY_DELAY_MS = 250
/** Random spread added to each wait (ms), so that a fleet does not reconnect in step. */
export const RETRY_JITTER_MS = 100
const retryStrategy = (times: number): number =>
  Math.min(100 * 2 ** Math.min(times - 1, 3), MAX_RETRY_DELAY_MS) +
  Math.floor(Math.random() * RETRY_JITTER_MS)

// The core's outbox queues while Redis is away, so the publisher fails fast instead of keeping a
// second, unbounded copy in ioredis' offline queue. Auto-pipelining batches a burst into one write.
const PUBLISHER: RedisOptions = {
  enableOfflineQueue: false,
  enableAutoPipelining: true,
  retryStrategy,
  connectionName: 'feathers-fanout',
  disconnectTimeout: DISCONNECT_TIMEOUT_MS
}
const CLUSTER_PUBLISHER: ClusterOptions = {
  enableOfflineQueue: false,
  enableAutoPipelining: true,
  clusterRetryStrategy: retryStrategy
}
// In durable mode the log's order is each sender's order. ioredis would retry a command that met a dead
// master or a cluster down, each on its own timer while later ones go out at once, so the log could hold
// a sender's events out of order after a failover. Refused at once instead, the engine resends them in
// order once the slot answers again (see ./slot-recovery.ts).
const DURABLE_CLUSTER_PUBLISHER: ClusterOptions = { retryDelayOnFailover: 0, retryDelayOnClusterDown: 0 }
// Its reads name the last entry handed over, so a read retried late is still in order: ioredis' defaults.
const CLUSTER_READER: ClusterOptions = { retryDelayOnFailover: 100, retryDelayOnClusterDown: 100 }
// The adapter subscribes again itself on every `ready`, so it knows when the subscription is back;
// ioredis' own resubscribe would say nothing about that. An in-flight SUBSCRIBE is resent, never lost.
const SUBSCRIBER: RedisOptions = {
  lazyConnect: true,
  autoResubscribe: false,
  autoResendUnfulfilledCommands: true,
  enableAutoPipelining: false,
  enableOfflineQueue: true,
  disconnectTimeout: DISCONNECT_TIMEOUT_MS
}

/**
 * A new lazy connection like `client`, for subscribing or blocking reads (an offline queue, resends).
 * `reader`: Cluster options for it (a Cluster's duplicate otherwise takes the publisher's).
 */
export function duplicateForSubscribing(
  client: RedisClient,
  sharded: boolean,
  reader: ClusterOptions = {}
): RedisClient {
  if (client.isCluster) {
    const options: ClusterOptions = {
      ...reader,
      lazyConnect: true,
      shardedSubscribers: sharded,
      enableAutoPipelining: false,
      enableOfflineQueue: true
    }
    return guardSocketErrors((client as Cluster).duplicate([], options))
  }
  return guardSocketErrors((client as Redis).duplicate(SUBSCRIBER))
}

/** A payload as ioredis sends it intact: it would send a plain Uint8Array (bson's output) as "1,2,3". */
export const asRedisValue = (payload: Payload): string | Buffer =>
  typeof payload === 'string' || Buffer.isBuffer(payload)
    ? payload
    : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)

/**
 * With the heartbeat on, a publish on a standalone connection waits for Redis at most the heartbeat timeout and then fails back
 * into the core's outbox (as the connection counts as hung): nothing piles up in ioredis on a hung
 * server. ioredis keeps no copy to resend after a reconnect, which the core does.
 * Not in durable mode: an `XADD` that timed out may still have been stored, and a resend would put a
 * second copy in the log, which consumer groups (they skip the duplicate window, so that redeliveries
 * reach handlers) would handle twice. There the heartbeat alone marks a hung server.
 */
const timeouts = ({ heartbeat, durable }: RedisSettings): RedisOptions =>
  heartbeat.intervalMs > 0 && durable === undefined
    ? { commandTimeout: heartbeat.timeoutMs, autoResendUnfulfilledCommands: false }
    : {}

/** Opens nothing yet (every client is lazy): `connect()` on each starts it. */
export function createConnections(settings: RedisSettings): RedisConnections {
  const { plan, sharded } = settings
  if (plan.kind === 'client') {
    return { pub: plan.client, sub: duplicateForSubscribing(plan.client, sharded), ownsPub: false }
  }
  const option = plan.kind === 'cluster' ? 'clusterOptions' : 'redisOptions'
  try {
    if (plan.kind !== 'cluster') {
      const pub = openRedis(plan, timeouts(settings))
      return { pub, sub: duplicateForSubscribing(pub, sharded), ownsPub: true }
    }
    const durable = settings.durable !== undefined
    const pub = openCluster(plan, durable ? DURABLE_CLUSTER_PUBLISHER : {})
    const reader = durable ? { ...CLUSTER_READER, ...readerRetries(plan.clusterOptions) } : {}
    return { pub, sub: duplicateForSubscribing(pub, sharded, reader), ownsPub: true }
  } catch (cause) {
    // ioredis checks some options in its constructors (e.g. `scaleReads`, `replyMapping`).
    throw new SyncConfigError(option, `ioredis rejected "${option}": ${(cause as Error).message}`, { cause })
  }
}

function openRedis(plan: Extract<RedisPlan, { kind: 'standalone' }>, timeouts: RedisOptions): Redis {
  const options: RedisOptions = { ...PUBLISHER, ...timeouts, ...plan.redisOptions, lazyConnect: true }
  const client = guardSocketErrors(
    plan.uri === undefined ? new Redis(options) : new Redis(plan.uri, options)
  ) as Redis
  if (client.options.autoResendUnfulfilledCommands === false) failInFlightOnClose(client)
  return client
}

/**
 * With `autoResendUnfulfilledCommands` off, ioredis neither resends nor settles the commands that were
 * in flight when a socket closed (it forgets them on the next `ready`): only `commandTimeout` rejects
 * them, seconds later. A publish cut that way reached the outbox late, and a heartbeat PING cut that way
 * counted as a hung server on the new, healthy socket (a spurious `reconnecting` about `heartbeatTimeoutMs`
 * after every cut). So they fail on `close`, as a lost connection, and the core resends the publishes.
 * Uses ioredis' `commandQueue` (public in its typings, marked internal); left alone if it is missing.
 */
type Queue = Redis['commandQueue']

function failInFlightOnClose(client: Redis): void {
  // ioredis emits `close` a tick after moving the queue aside (`prevCommandQueue`): both are looked at.
  const holder = client as unknown as Record<'commandQueue' | 'prevCommandQueue', Queue | null | undefined>
  client.on('close', () => {
    const error = new Error('Connection is closed.')
    for (const queue of new Set([holder.commandQueue, holder.prevCommandQueue])) {
      if (!queue || typeof queue.shift !== 'function') continue
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) item.command.reject(error)
    }
  })
}

/** The user's own retry delays, for the reader. */
const readerRetries = ({ retryDelayOnFailover, retryDelayOnClusterDown }: ClusterOptions): ClusterOptions =>
  Object.fromEntries(
    Object.entries({ retryDelayOnFailover, retryDelayOnClusterDown }).filter(
      ([, value]) => value !== undefined
    )
  )

// No command timeout on a Cluster: it redirects and retries commands itself; the heartbeat still watches it.
function openCluster(
  { nodes, clusterOptions }: Extract<RedisPlan, { kind: 'cluster' }>,
  mode: ClusterOptions
): Cluster {
  const cluster = new Cluster(nodes, {
    ...CLUSTER_PUBLISHER,
    ...mode,
    ...clusterOptions,
    redisOptions: { disconnectTimeout: DISCONNECT_TIMEOUT_MS, ...clusterOptions.redisOptions },
    lazyConnect: true
  })
  guardSocketErrors(cluster)
  return cluster
}

// Statuses in which no socket is open: `disconnect()` alone releases everything.
const SOCKETLESS = new Set(['wait', 'close', 'end', 'reconnecting'])

/** Disconnects a client the adapter opened and waits (bounded) until its sockets are closed. */
export function closeClient(client: RedisClient): Promise<void> {
  if (client.status === 'end') return Promise.resolve()
  if (SOCKETLESS.has(client.status)) {
    client.disconnect()
    return Promise.resolve()
  }
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer)
      client.off('end', done)
      resolve()
    }
    const timer = setTimeout(done, CLOSE_TIMEOUT_MS)
    timer.unref()
    client.once('end', done)
    client.disconnect()
  })
}
