import type { Application } from '@feathersjs/feathers'
import { SYNC } from './context'
import { core, coreState } from './core'
import { SyncConfigError } from './errors'
import { parseOptions, schemeOf, type SyncOptions } from './options'
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

function configureWith(options: SyncOptions, adapterName?: string): Configure {
  const resolved = parseOptions(options)
  const serializer = resolveSerializer(options)
  const factory = pickFactory(resolved, adapterName)
  return (app) => {
    const adapter = factory(resolved)
    const running = coreState(app)?.handle
    if (running?.closer) {
      if (running.type === adapter.type) return
      throw new SyncConfigError(
        'uri',
        `This app already syncs through "${running.type}"; it cannot use "${adapter.type}" too`
      )
    }
    runAdapter(app, adapter, resolved, serializer)
  }
}

/** The plugin function, shaped like feathers-sync's export. */
export interface Sync {
  (options: SyncOptions): Configure
  /** Redis and Redis-compatible servers, through ioredis. */
  redis(options: SyncOptions): Configure
  /** RabbitMQ and other AMQP 0-9-1 brokers, through amqplib. */
  amqp(options: SyncOptions): Configure
  /** Alias of `amqp`. */
  rabbitmq(options: SyncOptions): Configure
  /** NATS core pub/sub. */
  nats(options: SyncOptions): Configure
  /** In-process bus for tests and single-process apps. */
  memory(options?: SyncOptions): Configure
  /** Node `cluster` workers on one machine, relayed by the primary. */
  cluster(options?: SyncOptions): Configure
  /** The bridge alone, for custom adapters written the feathers-sync way. */
  core: typeof core
  /** Set `context[SYNC] = false` in a hook to keep that call's event local. */
  SYNC: typeof SYNC
}

/** `app.configure(sync({ uri }))`: picks the adapter from the URI scheme. */
export const sync: Sync = Object.assign((options: SyncOptions) => configureWith(options), {
  redis: (options: SyncOptions) => configureWith(options, 'redis'),
  amqp: (options: SyncOptions) => configureWith(options, 'amqp'),
  rabbitmq: (options: SyncOptions) => configureWith(options, 'amqp'),
  nats: (options: SyncOptions) => configureWith(options, 'nats'),
  memory: (options: SyncOptions = {}) => configureWith(options, 'memory'),
  cluster: (options: SyncOptions = {}) => configureWith(options, 'cluster'),
  core,
  SYNC: SYNC as typeof SYNC
})
