/**
 * The adapters this package ships, registered by URI scheme. Each loads its driver only when used, so an
 * app on NATS never loads ioredis. Their option types are listed here for `sync()` and `sync.<name>()`.
 */
import type { AdapterFactory } from '../src/registry'
import { registerAdapter } from '../src/registry'
import type { AmqpAdapterOptions } from './amqp/options'
import type { MemoryAdapterOptions } from './memory'
import type { NatsAdapterOptions } from './nats/options'
import type { RedisAdapterOptions } from './redis/options'

/** Options of each built-in adapter, by the name of its `sync.<name>()` shortcut. */
export interface BuiltinAdapterOptions {
  memory: MemoryAdapterOptions
  redis: RedisAdapterOptions
  amqp: AmqpAdapterOptions
  nats: NatsAdapterOptions
  cluster: Record<never, never>
}

/** Options of every built-in adapter at once: what `sync({ uri })` accepts, the scheme picking one. */
export type AnyAdapterOptions = MemoryAdapterOptions &
  RedisAdapterOptions &
  AmqpAdapterOptions &
  NatsAdapterOptions

// Typed loose on purpose: each factory checks its own options (see parse*Options in its folder).
const lazy =
  (load: () => unknown): AdapterFactory =>
  (options) =>
    (load() as AdapterFactory)(options)

/** Registers the built-in adapters; idempotent (a registration replaces the same scheme's). */
export function registerBuiltins(): void {
  registerAdapter(
    'memory',
    lazy(() => require('./memory').createMemoryAdapter)
  )
  for (const scheme of ['redis', 'rediss']) {
    registerAdapter(
      scheme,
      lazy(() => require('./redis').createRedisAdapter)
    )
  }
  for (const scheme of ['amqp', 'amqps']) {
    registerAdapter(
      scheme,
      lazy(() => require('./amqp').createAmqpAdapter)
    )
  }
  // Not `tls://`: it names no broker, so it could pick NATS by surprise. `sync.nats({ uri: 'tls://…' })` works.
  registerAdapter(
    'nats',
    lazy(() => require('./nats').createNatsAdapter)
  )
  registerAdapter(
    'cluster',
    lazy(() => require('./cluster').createClusterAdapter)
  )
}

/** Options that hand in a client the user made; each implies its adapter when `uri` is absent. */
export const CLIENT_OPTIONS: Readonly<Record<string, string>> = {
  redisClient: 'redis',
  clusterNodes: 'redis',
  natsConnection: 'nats',
  amqpConnection: 'amqp'
}
