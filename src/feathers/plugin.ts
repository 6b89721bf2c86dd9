import type { Application, HookContext, NextFunction } from '@feathersjs/feathers'
import type { AnyAdapterOptions, BuiltinAdapterOptions } from '../../adapters/builtin'
import { factoryFrom } from '../bus'
import { checkOptionNames } from '../option-names'
import type { Adapter } from '../adapter'
import { parseOptions } from '../engine/options'
import { SyncConfigError } from '../errors'
import { resolveSerializer } from '../protocol/serializers'
import { bridgeOf, installBridge } from './bridge'
import { useFeathersDebug } from './debug'
import { differingOption } from './reconfigure'
import { SYNC } from './context'
import { checkFeathersOptions, resolveFeathersOptions, type FeathersSyncOptions } from './options'
import { installRecovery } from './recovery'

useFeathersDebug()

/** A Feathers plugin: `app.configure(sync(options))`. */
export type Configure = (app: Application) => void

/** Options of `sync()`: the bus's, the Feathers binding's, and those of every built-in adapter. */
export type SyncOptions = FeathersSyncOptions & AnyAdapterOptions

/** Options of `sync.<name>()`: the common ones plus that adapter's own. */
export type AdapterSyncOptions<K extends keyof BuiltinAdapterOptions> = FeathersSyncOptions &
  BuiltinAdapterOptions[K]

/** Starts `adapter` on the app's bus, with the one `sync-out` listener and the teardown hook. */
function start(
  app: Application,
  adapter: Adapter,
  options: ReturnType<typeof parseOptions<SyncOptions>>
): void {
  const bridge = installBridge(app, options, resolveSerializer(options))
  const { bus } = bridge
  const onOut = (payload: Parameters<typeof bus.send>[0]) => bus.send(payload)
  bus.start(adapter)
  if (bridge.options.recovery) installRecovery(app, bridge, bridge.options.recovery)
  bus.ready.catch(() => undefined)
  app.on('sync-out', onOut)
  // Closing stops the publish path too, whoever calls it: app.teardown() or app.sync.close().
  void bus.whenClosed.then(() => app.removeListener('sync-out', onOut))
  app.hooks({
    teardown: [
      async (_context: HookContext, next: NextFunction) => {
        await next()
        await bridge.handle.close()
      }
    ]
  })
}

/** The options each app was configured with, to tell a repeated `configure` from a conflicting one. */
const configured = new WeakMap<Application, unknown>()

function configureWith(input: SyncOptions | string, adapterName?: string): Configure {
  const options: SyncOptions = typeof input === 'string' ? { uri: input } : input
  if (typeof options === 'object' && options !== null) checkOptionNames(options)
  const parsed = parseOptions(options)
  checkFeathersOptions(options)
  const resolved = { ...parsed, echo: resolveFeathersOptions(options).emitOrder === 'broker' }
  resolveSerializer(options)
  const factory = factoryFrom(resolved, adapterName)
  return (app) => {
    const adapter = factory(resolved)
    const running = bridgeOf(app)?.bus.running ? app.sync.type : undefined
    if (running) {
      if (running !== adapter.type) {
        throw new SyncConfigError(
          'uri',
          `This app already syncs through "${running}"; it cannot use "${adapter.type}" too`
        )
      }
      // The same options again are harmless (plugins may be configured twice); others would be ignored.
      const option = differingOption(configured.get(app), resolved)
      if (option !== undefined) {
        throw new SyncConfigError(
          option,
          `This app already syncs with other options ("${option}" differs); configure sync once per app`
        )
      }
      return
    }
    configured.set(app, resolved)
    start(app, adapter, resolved)
  }
}

/**
 * The bridge alone, for custom adapters written the feathers-sync way:
 * `app.configure(core)`, set `app.sync`, publish what arrives on `sync-out`, emit `sync-in`.
 * `core.SYNC` is the opt-out symbol, where feathers-sync has it too.
 */
export const core: ((app: Application) => void) & { readonly SYNC: typeof SYNC } = Object.assign(
  (app: Application): void => {
    installBridge(app, parseOptions({}))
  },
  { SYNC: SYNC as typeof SYNC }
)

/** The plugin function, shaped like feathers-sync's export. */
export interface Sync {
  (options: SyncOptions | string): Configure
  /** Redis and Redis-compatible servers, through ioredis. */
  redis(options: AdapterSyncOptions<'redis'> | string): Configure
  /** RabbitMQ and other AMQP 0-9-1 brokers, through amqplib. */
  amqp(options: AdapterSyncOptions<'amqp'> | string): Configure
  /** Alias of `amqp`. */
  rabbitmq(options: AdapterSyncOptions<'amqp'> | string): Configure
  /** NATS core pub/sub. */
  nats(options: AdapterSyncOptions<'nats'> | string): Configure
  /** In-process bus for tests and single-process apps. */
  memory(options?: AdapterSyncOptions<'memory'> | string): Configure
  /** Node `cluster` workers on one machine, relayed by the primary. */
  cluster(options?: AdapterSyncOptions<'cluster'> | string): Configure
  /** The bridge alone, for custom adapters written the feathers-sync way. */
  core: typeof core
  /** Set `context[SYNC] = false` in a hook to keep that call's event local. */
  SYNC: typeof SYNC
}

/**
 * `app.configure(sync({ uri }))`, or `sync(uri)`: picks the adapter from the URI scheme. Each option
 * is checked at once; an unknown name throws a `SyncConfigError` naming the closest known one.
 */
export const sync: Sync = Object.assign((options: SyncOptions | string) => configureWith(options), {
  redis: (options: AdapterSyncOptions<'redis'> | string) => configureWith(options, 'redis'),
  amqp: (options: AdapterSyncOptions<'amqp'> | string) => configureWith(options, 'amqp'),
  rabbitmq: (options: AdapterSyncOptions<'amqp'> | string) => configureWith(options, 'amqp'),
  nats: (options: AdapterSyncOptions<'nats'> | string) => configureWith(options, 'nats'),
  memory: (options: AdapterSyncOptions<'memory'> | string = {}) => configureWith(options, 'memory'),
  cluster: (options: AdapterSyncOptions<'cluster'> | string = {}) => configureWith(options, 'cluster'),
  core,
  SYNC: SYNC as typeof SYNC
})
