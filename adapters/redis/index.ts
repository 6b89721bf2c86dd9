import type { Adapter, ResolvedOptions } from '../../src/adapter'
import { DurableRedisAdapter } from './durable'
import { parseRedisOptions, type RedisAdapterOptions } from './options'
import { RedisAdapter } from './pubsub'

export type { RedisAdapterOptions } from './options'

/**
 * Creates the Redis adapter: plain pub/sub (./pubsub.ts), or with `durable` a Redis stream
 * (./durable.ts). Validates its options at configure time, connects in `connect()`.
 */
export function createRedisAdapter(options: ResolvedOptions & RedisAdapterOptions): Adapter {
  const settings = parseRedisOptions(options)
  return settings.durable ? new DurableRedisAdapter(settings, settings.durable) : new RedisAdapter(settings)
}
