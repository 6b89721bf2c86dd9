import type { BusOptions } from '../bus'
import { SyncConfigError } from '../errors'
import { checkOptionNames } from '../option-names'

/** Channel of the Fastify plugin unless `key` says otherwise. */
export const DEFAULT_FASTIFY_KEY = 'fanout'

/**
 * Options of the Fastify plugin: those of the bus (broker, `key`, limits, `secrets`, serializer,
 * `durable`, outbox…, see docs/configuration.md) and of every built-in adapter, plus `emitOrder`.
 */
export type FanoutOptions = Omit<BusOptions, 'echo' | 'key'> & {
  /**
   * Channel, exchange or subject that the fleet shares; instances on other keys do not hear each other.
   * Not feathers-sync's default, so that Feathers apps on the same broker do not get these messages.
   * @default 'fanout'
   */
  key?: string
  /**
   * `local-first`: the publishing instance's own handlers are called at once, inside `publish()`, and its
   * message is not handed back by the broker. `broker`: every instance, the publisher too, gets the
   * message when the broker delivers it, so all see the same order of messages from several publishers
   * where the broker has one order: Redis pub/sub, memory, cluster and durable mode (NATS core and
   * RabbitMQ pub/sub keep each publisher's order only). In durable mode the publisher's handlers get the
   * log position too.
   * @default 'local-first'
   */
  emitOrder?: 'local-first' | 'broker'
}

/** The plugin's own options; a missing or extra name does not compile. */
export const FASTIFY_OPTION_KEYS = {
  emitOrder: true
} satisfies Record<Exclude<keyof FanoutOptions, keyof BusOptions>, true>

// Fastify reads these from the options of every `register` call and leaves them in the object.
const REGISTER_KEYS = ['prefix', 'logLevel', 'logSerializers']

// Options of the Feathers binding that a topic bus has nothing to apply to.
const FEATHERS_ONLY = ['context', 'contextParams', 'includeResult']

/**
 * Checks the plugin's options, naming the bad one, and returns the bus options (Fastify's register options
 * removed, the default key filled in) and the emit order.
 * @throws SyncConfigError for an unknown or misspelt option name, or a bad `emitOrder`
 */
export function parseFanoutOptions(options: FanoutOptions): {
  bus: BusOptions
  emitOrder: 'local-first' | 'broker'
} {
  if (typeof options !== 'object' || options === null) {
    throw new SyncConfigError(
      'options',
      `The fanout plugin expects an options object such as { uri: 'redis://127.0.0.1:6379' }, got ${
        options === null ? 'null' : typeof options
      }`
    )
  }
  const given: Record<string, unknown> = { ...options }
  for (const name of REGISTER_KEYS) delete given[name]
  for (const name of FEATHERS_ONLY) {
    if (given[name] !== undefined) {
      throw new SyncConfigError(
        name,
        `Option "${name}" belongs to the Feathers binding, not to the fanout plugin`
      )
    }
  }
  if (given.echo !== undefined) {
    throw new SyncConfigError(
      'echo',
      `Option "echo" is not one of the fanout plugin; emitOrder: 'broker' hands an instance its own messages back`
    )
  }
  checkOptionNames(given, Object.keys(FASTIFY_OPTION_KEYS))
  const { emitOrder = 'local-first', ...rest } = given as FanoutOptions
  if (emitOrder !== 'local-first' && emitOrder !== 'broker') {
    throw new SyncConfigError(
      'emitOrder',
      `Option "emitOrder" must be 'local-first' or 'broker', got ${String(emitOrder)}`
    )
  }
  return {
    bus: { ...rest, key: rest.key ?? DEFAULT_FASTIFY_KEY, echo: emitOrder === 'broker' },
    emitOrder
  }
}
