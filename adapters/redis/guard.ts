import type { EventEmitter } from 'node:events'
import type { Cluster, Redis } from 'ioredis'
import { createDebug } from '../../src/engine/debug'
import type { RedisClient } from './clients'

const debug = createDebug('feathers-fanout/redis')

/** The part of ioredis' (private) connector this module wraps. */
interface Connector {
  connect(emit: unknown): Promise<EventEmitter>
}

const GUARDED = Symbol('feathers-fanout.guarded')

/**
 * Keeps a second socket error from crashing the process. ioredis listens for a socket's `error` with
 * `once`, so a socket that fails twice (a TLS handshake refused by the client, then the server's alert
 * on the same socket: "tlsv1 alert decode error") emits the second error to no listener, and Node
 * throws it as an uncaught exception (ioredis#961, ioredis#1183, open since 2019). ioredis reports the
 * first error as usual; a later one on the same socket only ends up in the debug log.
 *
 * Works on the client's connector, which ioredis keeps private: if a future ioredis has none, the
 * client is left as it is. Cluster clients are guarded node by node as they are created.
 */
export function guardSocketErrors(client: RedisClient): RedisClient {
  if (client.isCluster) {
    ;(client as Cluster).on('+node', (node: Redis) => guardSocketErrors(node))
    return client
  }
  const holder = client as unknown as { connector?: Connector & { [GUARDED]?: true } }
  const connector = holder.connector
  if (!connector || typeof connector.connect !== 'function' || connector[GUARDED]) return client
  const connect = connector.connect.bind(connector)
  connector.connect = (emit) =>
    connect(emit).then((stream) => {
      stream.on('error', (error: unknown) => debug('socket error after the first one', error))
      return stream
    })
  connector[GUARDED] = true
  return client
}
