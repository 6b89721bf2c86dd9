import type { BaseSyncOptions } from '../engine/options'
import { SyncConfigError } from '../errors'
import { DEFAULT_CONTEXT_PARAMS, travellingContext, type ContextBuilder } from './context'
import { parseRecovery, type RecoveryOptions, type ResolvedRecovery } from './recovery/options'

/** Options of the Feathers binding: what travels with an event, and in which order instances emit. */
export interface FeathersOptions {
  /**
   * `local-first`: the instance that handles a call emits its event at once and drops its own
   * message when the broker echoes it. `broker`: every instance, the sender too, emits in the
   * order the broker delivers (feathers-sync's behaviour; local events wait for the broker). That order
   * is the same on every instance on Redis pub/sub, memory, cluster and in durable mode; NATS core and
   * RabbitMQ pub/sub keep each sender's order only (docs/events-and-context.md).
   * @default 'local-first'
   */
  emitOrder?: 'local-first' | 'broker'
  /** Builds the part of the hook context that travels. @default method, type, id and `contextParams` */
  context?: ContextBuilder
  /** Names of `params` that travel with the default context builder. @default ['query', 'provider', 'route'] */
  contextParams?: readonly string[]
  /**
   * Also send the event data as `context.result`, which feathers-sync 3.x instances need: their socket
   * dispatchers send `context.dispatch || context.result` to their clients, so without it the clients of
   * an instance not yet upgraded get events without data. It roughly doubles the bytes of each message
   * (see docs/benchmarks.md); set `false` once no feathers-sync instance shares the channel.
   * Receivers of this library ignore it: their `context.result` is the event data itself.
   * @default true
   */
  includeResult?: boolean
  /**
   * Client recovery: websocket clients that reconnect (to any instance) get the events they missed,
   * filtered by the app's own channel publishers (docs/client-recovery.md). Needs `durable`, and makes
   * `emitOrder` default to `'broker'` (every event a client gets must carry its log position).
   * @default false
   */
  recovery?: boolean | RecoveryOptions
  /**
   * Also sync the events of the app's authentication service (`@feathersjs/authentication`). Off by
   * default: a login's `created` and a logout's `removed` carry the access token and the user, which
   * would otherwise travel through the broker (and stay in its log in durable mode), while Feathers never
   * publishes them to clients anyway. feathers-sync synced them; set `true` to keep doing so.
   * @default false
   */
  syncAuthentication?: boolean
}

/** Every option of `FeathersOptions`; a missing or extra name does not compile. */
export const FEATHERS_OPTION_KEYS = {
  emitOrder: true,
  context: true,
  contextParams: true,
  includeResult: true,
  recovery: true,
  syncAuthentication: true
} satisfies Record<keyof FeathersOptions, true>

/** The Feathers options with every default filled in. */
export interface ResolvedFeathersOptions {
  emitOrder: 'local-first' | 'broker'
  includeResult: boolean
  context: ContextBuilder
  recovery: ResolvedRecovery | false
  syncAuthentication: boolean
}

/**
 * Options of `sync()` and of custom adapters' `core`: the bus's, the binding's, and those of the adapters
 * (each built-in adapter adds its own to {@link AdapterOptionsByScheme} by declaration merging).
 */
export type FeathersSyncOptions = BaseSyncOptions & FeathersOptions

/** Validates the binding's options, naming the bad one. */
export function checkFeathersOptions(options: FeathersOptions): void {
  const { emitOrder, context, contextParams, includeResult, syncAuthentication } = options
  if (parseRecovery(options.recovery) !== false) {
    if (emitOrder === 'local-first') {
      throw new SyncConfigError(
        'emitOrder',
        `Option "recovery" needs emitOrder 'broker': a local-first event reaches clients before the log gives it a position`
      )
    }
    const durable = (options as { durable?: unknown }).durable
    if (durable === undefined || durable === false) {
      throw new SyncConfigError('recovery', 'Option "recovery" needs durable delivery: set "durable" too')
    }
  }
  if (emitOrder !== undefined && emitOrder !== 'local-first' && emitOrder !== 'broker') {
    throw new SyncConfigError(
      'emitOrder',
      `Option "emitOrder" must be 'local-first' or 'broker', got ${String(emitOrder)}`
    )
  }
  if (context !== undefined && typeof context !== 'function') {
    throw new SyncConfigError(
      'context',
      `Option "context" must be a function of the hook context, got ${typeof context}`
    )
  }
  if (includeResult !== undefined && typeof includeResult !== 'boolean') {
    throw new SyncConfigError('includeResult', `Option "includeResult" must be true or false`)
  }
  if (syncAuthentication !== undefined && typeof syncAuthentication !== 'boolean') {
    throw new SyncConfigError('syncAuthentication', `Option "syncAuthentication" must be true or false`)
  }
  if (
    contextParams !== undefined &&
    (!Array.isArray(contextParams) || contextParams.some((p) => typeof p !== 'string'))
  ) {
    throw new SyncConfigError('contextParams', 'Option "contextParams" must be an array of parameter names')
  }
}

/** The binding's options with defaults, in a new object. */
export function resolveFeathersOptions(options: FeathersOptions): ResolvedFeathersOptions {
  const params = options.contextParams ?? DEFAULT_CONTEXT_PARAMS
  const recovery = parseRecovery(options.recovery)
  return {
    recovery,
    emitOrder: options.emitOrder ?? (recovery ? 'broker' : 'local-first'),
    includeResult: options.includeResult ?? true,
    syncAuthentication: options.syncAuthentication ?? false,
    context: options.context ?? ((ctx) => travellingContext(ctx, params))
  }
}
