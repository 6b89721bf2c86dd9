import type { Application } from '@feathersjs/feathers'
import { SYNC } from './context'
import { core, coreState } from './core'
import { SyncConfigError } from './errors'
import { differingOption, parseOptions, schemeOf, type ResolvedOptions, type SyncOptions } from './options'
import { factoryFor, registerAdapter, type AdapterFactory } from './registry'
import { runAdapter } from './runner'
import { resolveSerializer } from './serializers'

/** A Feathers plugin: `app.configure(sync(options))`. */
export type Configure = (app: Application) => void

// Adapters load their driver only when used, so an app on NATS never loads ioredis.
const lazy =
  (load: () => AdapterFactory): AdapterFactory =>
  (options) =>
    load()(options)

registerAdapter(
  'memory',
  lazy(() => require('../adapters/memory').createMemoryAdapter)
)
for (const scheme of ['redis', 'rediss']) {
  registerAdapter(
    scheme,
    lazy(() => require('../adapters/redis').createRedisAdapter)
  )
}
for (const scheme of ['amqp', 'amqps']) {
  registerAdapter(
    scheme,
    lazy(() => require('../adapters/amqp').createAmqpAdapter)
  )
}
// Not `tls://`: it names no broker, so it could pick NATS by surprise. `sync.nats({ uri: 'tls://…' })` works.
registerAdapter(
  'nats',
  lazy(() => require('../adapters/nats').createNatsAdapter)
)
registerAdapter(
  'cluster',
  lazy(() => require('../adapters/cluster').createClusterAdapter)
)

/** Options that hand in a client the user made; each implies its adapter when `uri` is absent. */
const CLIENT_OPTIONS: Readonly<Record<string, string>> = {
  redisClient: 'redis',
  clusterNodes: 'redis',
  natsConnection: 'nats',
  amqpConnection: 'amqp'
}

function pickFactory(options: SyncOptions, adapterName: string | undefined): AdapterFactory {
  if (options.adapter !== undefined) {
    const { adapter } = options
    if (typeof adapter !== 'object' || adapter === null || typeof adapter.publish !== 'function') {
      throw new SyncConfigError(
        'adapter',
        'Option "adapter" must implement the Adapter interface (see docs/custom-adapters.md)'
      )
    }
    return () => adapter
  }
  if (adapterName) return factoryFor(adapterName)
  if (options.uri) return factoryFor(schemeOf(options.uri))
  const client = Object.keys(CLIENT_OPTIONS).find(
    (name) => (options as Record<string, unknown>)[name] !== undefined
  )
  if (client) return factoryFor(CLIENT_OPTIONS[client])
  throw new SyncConfigError(
    'uri',
    'Option "uri" is required (or pass a client such as redisClient, or an adapter)'
  )
}

/** The options each app was configured with, to tell a repeated `configure` from a conflicting one. */
const configured = new WeakMap<Application, ResolvedOptions>()

function configureWith(options: SyncOptions | string, adapterName?: string): Configure {
  const resolved = parseOptions(options)
  const serializer = resolveSerializer(resolved)
  const factory = pickFactory(resolved, adapterName)
  return (app) => {
    const adapter = factory(resolved)
    const running = coreState(app)?.handle
    if (running?.closer) {
      if (running.type !== adapter.type) {
        throw new SyncConfigError(
          'uri',
          `This app already syncs through "${running.type}"; it cannot use "${adapter.type}" too`
        )
      }
      // The same options again are harmless (plugins may be configured twice); others would be ignored.
      const before = configured.get(app)
      const option = before && differingOption(before, resolved)
      if (option !== undefined) {
        throw new SyncConfigError(
          option,
          `This app already syncs with other options ("${option}" differs); configure sync once per app`
        )
      }
      return
    }
    configured.set(app, resolved)
    runAdapter(app, adapter, resolved, serializer)
  }
}

/** The plugin function, shaped like feathers-sync's export. */
export interface Sync {
  (options: SyncOptions | string): Configure
  /** Redis and Redis-compatible servers, through ioredis. */
  redis(options: SyncOptions | string): Configure
  /** RabbitMQ and other AMQP 0-9-1 brokers, through amqplib. */
  amqp(options: SyncOptions | string): Configure
  /** Alias of `amqp`. */
  rabbitmq(options: SyncOptions | string): Configure
  /** NATS core pub/sub. */
  nats(options: SyncOptions | string): Configure
  /** In-process bus for tests and single-process apps. */
  memory(options?: SyncOptions | string): Configure
  /** Node `cluster` workers on one machine, relayed by the primary. */
  cluster(options?: SyncOptions | string): Configure
  /** The bridge alone, for custom adapters written the feathers-sync way. */
  core: typeof core
  /** Set `context[SYNC] = false` in a hook to keep that call's event local. */
  SYNC: typeof SYNC
}

type Options = SyncOptions | string

/**
 * `app.configure(sync({ uri }))`, or `sync(uri)`: picks the adapter from the URI scheme. Each option
 * is checked at once; an unknown name throws a `SyncConfigError` naming the closest known one.
 */
export const sync: Sync = Object.assign((options: Options) => configureWith(options), {
  redis: (options: Options) => configureWith(options, 'redis'),
  amqp: (options: Options) => configureWith(options, 'amqp'),
  rabbitmq: (options: Options) => configureWith(options, 'amqp'),
  nats: (options: Options) => configureWith(options, 'nats'),
  memory: (options: Options = {}) => configureWith(options, 'memory'),
  cluster: (options: Options = {}) => configureWith(options, 'cluster'),
  core,
  SYNC: SYNC as typeof SYNC
})
