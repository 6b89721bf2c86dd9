import { CLIENT_OPTIONS, registerBuiltins, type AnyAdapterOptions } from '../adapters/builtin'
import { Bus, type BusListeners } from './engine/bus'
import { parseOptions, schemeOf, type BaseSyncOptions } from './engine/options'
import { SyncConfigError } from './errors'
import { checkOptionNames } from './option-names'
import { resolveSerializer } from './protocol/serializers'
import { factoryFor, type AdapterFactory } from './registry'

registerBuiltins()

/** Options of a bus used without a framework: the common ones plus every built-in adapter's. */
export type BusOptions = BaseSyncOptions &
  AnyAdapterOptions & {
    /** Hand this instance's own messages to its subscribers too. @default false */
    echo?: boolean
  }

/** The adapter factory the options name: `adapter`, the URI scheme, or a client option. */
export function factoryFrom(options: BusOptions, adapterName?: string): AdapterFactory {
  const { adapter } = options
  if (adapter !== undefined) {
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

/**
 * A bus with its adapter started, for code that is not a Feathers app: `bus.publish({ event, path, data,
 * context })`, `bus.subscribe(({ envelope }) => …)`, `bus.ready`, `bus.status`, `bus.stats()`, `bus.close()`.
 * @throws SyncConfigError for a bad option, naming it
 */
export function createBus(options: BusOptions, listeners: BusListeners = {}): Bus {
  if (typeof options === 'object' && options !== null) checkOptionNames(options)
  const resolved = { ...parseOptions(options), echo: options.echo === true }
  const serializer = resolveSerializer(options)
  const adapter = factoryFrom(resolved)(resolved)
  const bus = new Bus({ ...resolved, keepOwn: resolved.echo }, listeners, serializer)
  bus.start(adapter)
  return bus
}
