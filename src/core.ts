import type { Application, HookContext } from '@feathersjs/feathers'
import {
  DEFAULT_CONTEXT_PARAMS,
  SYNC,
  remoteContext,
  sanitize,
  travellingContext,
  type ContextBuilder
} from './context'
import { createDebug } from './debug'
import { ENVELOPE_VERSION, envelopeProblem, type Envelope } from './envelope'
import {
  SyncDeliveryError,
  SyncError,
  SyncMessageError,
  SyncOversizeError,
  SyncPublishError,
  SyncSerializationError,
  SyncServiceEventsError,
  type DropReason
} from './errors'
import { SyncState, type SyncInfo } from './handle'
import { SeenMessages } from './recent'
import { Sealer, type SecurityOptions } from './security'
import type { Payload } from './serializers'
import { serviceEventsOf } from './service-events'
import { createStats, type SyncStats } from './stats'

const debug = createDebug('feathers-fanout/core')

/** Options of the core bridge; every adapter accepts them. */
export interface CoreOptions extends SecurityOptions {
  /** Largest encoded message sent or accepted; larger ones are dropped before decoding. @default 4 MiB */
  maxMessageBytes?: number
  /**
   * `local-first`: the instance that handles a call emits its event at once and drops its own
   * message when the broker echoes it. `broker`: every instance, the sender too, emits in the
   * order the broker delivers (feathers-sync's behaviour; local events wait for the broker).
   * @default 'local-first'
   */
  emitOrder?: 'local-first' | 'broker'
  /** Builds the part of the hook context that travels. @default method, type, id and `contextParams` */
  context?: ContextBuilder
  /** Names of `params` that travel with the default context builder. @default ['query', 'provider', 'route'] */
  contextParams?: readonly string[]
  /**
   * Also send the event data as `context.result`. Turn it on while feathers-sync 3.x instances share the
   * channel: their socket dispatchers send `context.dispatch || context.result` to clients. @default false
   */
  includeResult?: boolean
}

type Emit = (event: string | symbol, ...args: unknown[]) => boolean
type Service = { emit: Emit }

/** Everything the core keeps for one app. */
export interface CoreState {
  readonly handle: SyncState
  readonly stats: SyncStats
  options: ResolvedCoreOptions
  /** Gives a message that waited in the outbox a fresh signature time; identity without `secrets`. */
  refresh(payload: Payload): Payload
  /** Reports an operational problem on the app as `sync-error`. */
  report(error: SyncError): void
  /** Counts a dropped message and, unless it is routine, reports why. */
  drop(reason: DropReason, error?: SyncError): void
  /** Stops publishing and receiving; events stay local from then on. */
  detach(): void
}

const STATE = Symbol.for('feathers-fanout/core')
const WRAPPED = Symbol.for('feathers-fanout/wrapped')
const PENDING_LIMIT = 10_000

type AppWithState = Application & { [STATE]?: CoreState }

/** The core state of an app, if the core is installed. */
export const coreState = (app: Application): CoreState | undefined => (app as AppWithState)[STATE]

const stripSlashes = (path: string): string => path.replace(/^\/+|\/+$/g, '')

export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024

interface ResolvedCoreOptions {
  emitOrder: 'local-first' | 'broker'
  includeResult: boolean
  context: ContextBuilder
  maxMessageBytes: number
  sealer: Sealer | undefined
}

const channelOf = (options: CoreOptions): string => {
  const { key } = options as { key?: unknown }
  return typeof key === 'string' ? key : ''
}

function resolveCoreOptions(options: CoreOptions): ResolvedCoreOptions {
  const params = options.contextParams ?? DEFAULT_CONTEXT_PARAMS
  return {
    emitOrder: options.emitOrder ?? 'local-first',
    includeResult: options.includeResult ?? false,
    context: options.context ?? ((ctx) => travellingContext(ctx, params)),
    maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    // Bound to the channel (`key`, given to the core by the runner), so frames cannot be moved between channels.
    sealer: options.secrets === undefined ? undefined : new Sealer(options, channelOf(options))
  }
}

/** Where Feathers resolvers (`resolveExternal`) keep the safe version of each record. */
const DISPATCH = Symbol.for('@feathersjs/schema/dispatch')

/** The safe data clients should see for this event, when resolvers made one. */
function dispatchOf(ctx: HookContext, data: unknown): unknown {
  if (typeof data === 'object' && data !== null) {
    const own = (data as { [DISPATCH]?: unknown })[DISPATCH]
    if (own !== undefined) return own
  }
  // For an array result, ctx.dispatch holds every record: only a record's own dispatch fits its event.
  return Array.isArray(ctx.result) ? undefined : ctx.dispatch
}

/** Size in bytes, without encoding a string that is clearly under `limit`. */
function overLimit(payload: Payload, limit: number): number | undefined {
  if (typeof payload !== 'string') return payload.byteLength > limit ? payload.byteLength : undefined
  if (payload.length * 3 <= limit) return undefined
  const size = Buffer.byteLength(payload)
  return size > limit ? size : undefined
}

/**
 * Installs the bridge between service events and the app's `sync-out` / `sync-in` events.
 * Idempotent: a second call only updates the options.
 */
export function installCore(app: Application, options: CoreOptions = {}): CoreState {
  const existing = coreState(app)
  if (existing) {
    if (Object.keys(options).length > 0) existing.options = resolveCoreOptions(options)
    return existing
  }
  const stats = createStats()
  const handle = new SyncState(app, stats)
  // The original `emit` of each wrapped service and the events that travel for it.
  const wrapped = new WeakMap<object, { emit: Emit; events: ReadonlySet<string> }>()
  const seen = new SeenMessages()
  const pending = new Map<number, unknown>()
  let seq = 0
  let attached = true

  const state: CoreState = {
    handle,
    stats,
    options: resolveCoreOptions(options),
    report(error) {
      debug(error)
      try {
        app.emit('sync-error', error)
      } catch (listenerError) {
        // Reports come from broker callbacks: a throwing listener must not crash the process.
        debug('a sync-error listener threw', listenerError)
      }
    },
    drop(reason, error) {
      stats.dropped[reason]++
      if (error) state.report(error)
    },
    refresh(payload) {
      const { sealer } = state.options
      return sealer ? sealer.reseal(payload) : payload
    },
    detach() {
      attached = false
      app.removeListener('sync-in', receive)
    }
  }

  handle.detach = state.detach
  Object.defineProperty(app, STATE, { value: state })
  // `app.sync = {...}` from a feathers-sync style adapter is merged into the handle, so
  // `status`, `stats()` and `close()` work for custom adapters too.
  Object.defineProperty(app, 'sync', {
    configurable: true,
    enumerable: true,
    get: () => handle,
    set: (info: SyncInfo) => handle.adopt(info)
  })

  /**
   * The travelling context plus what a receiver's socket dispatcher needs: the path (event names are
   * `path event`), the safe `dispatch` data of resolvers, and with `includeResult` the result itself,
   * which feathers-sync 3.x receivers dispatch when there is no `dispatch`.
   */
  function routedContext(ctx: HookContext, path: string, event: string, data: unknown) {
    const built = state.options.context(ctx)
    if (built === null) return null
    if (typeof built !== 'object' || Array.isArray(built)) {
      throw new TypeError(`The "context" option must return an object or null, got ${typeof built}`)
    }
    // Not `{ ...built, path, event }`: V8 takes a slow path for a spread followed by more keys (~1 µs
    // per event, measured with `npm run bench`); Object.assign gives the same keys in the same order.
    const routed: Record<string, unknown> = Object.assign({}, built, { path, event })
    if (!('dispatch' in built)) {
      const dispatch = dispatchOf(ctx, data)
      if (dispatch !== undefined) routed.dispatch = sanitize(dispatch)
    }
    if (state.options.includeResult) routed.result = data
    return routed
  }

  function publish(path: string, event: string, data: unknown, ctx: unknown): boolean {
    let envelope: Envelope
    let payload: Payload
    try {
      const context = ctx == null ? null : routedContext(ctx as HookContext, path, event, data)
      envelope = { event, path, data, context, v: ENVELOPE_VERSION, sender: handle.instanceId, id: ++seq }
      payload = handle.serialize(envelope)
      const { sealer, maxMessageBytes } = state.options
      if (sealer) payload = sealer.seal(payload, handle.instanceId, envelope.id as number)
      const size = overLimit(payload, maxMessageBytes)
      if (size !== undefined) {
        state.drop(
          'oversize',
          new SyncOversizeError(size, maxMessageBytes, `"${event}" of service "${path}"`)
        )
        return false
      }
    } catch (cause) {
      state.drop('serializeFailed', new SyncSerializationError(path, event, { cause }))
      return false
    }
    if (state.options.emitOrder === 'broker') {
      if (pending.size >= PENDING_LIMIT) pending.delete(pending.keys().next().value as number)
      pending.set(envelope.id as number, ctx)
    }
    stats.published++
    try {
      app.emit('sync-out', payload)
    } catch (cause) {
      stats.publishErrors++
      state.report(
        new SyncPublishError(`A sync-out listener threw while publishing "${event}" of "${path}"`, { cause })
      )
    }
    return true
  }

  /** `options` are those the app's Feathers hands to mixins; absent for services registered earlier. */
  function wrap(service: Service, path: string, options?: unknown): void {
    if ((service as { [WRAPPED]?: true })[WRAPPED]) return
    const original = service.emit
    const { events, known } = serviceEventsOf(service, options)
    if (!known) {
      // Deferred, so a sync-error listener added right after `app.configure(sync(...))` hears it.
      const error = new SyncServiceEventsError(path, [...events])
      queueMicrotask(() => state.report(error))
    }
    wrapped.set(service, { emit: original, events })
    Object.defineProperty(service, WRAPPED, { value: true })
    service.emit = function emit(this: unknown, event: string | symbol, ...args: unknown[]): boolean {
      const [data, ctx] = args
      const local = typeof event !== 'string' || !events.has(event) || !attached
      if (local || (ctx as { [SYNC]?: unknown } | undefined)?.[SYNC] === false) {
        return original.call(this, event, ...args)
      }
      if (state.options.emitOrder === 'broker') {
        // Without a message on the broker nothing would ever emit it: keep it local.
        return publish(path, event, data, ctx) || original.call(this, event, ...args)
      }
      try {
        return original.call(this, event, ...args)
      } finally {
        publish(path, event, data, ctx)
      }
    }
  }

  function deliver(message: Envelope, own: boolean): void {
    const path = stripSlashes(message.path)
    const service = (app.services as Record<string, Service | undefined>)[path]
    const known = service && wrapped.get(service)
    if (!service || !known) {
      state.drop('unknownPath', new SyncMessageError('unknownPath', `No service at path "${message.path}"`))
      return
    }
    if (!known.events.has(message.event)) {
      const text = `Service "${path}" does not emit "${message.event}"`
      state.drop('unknownEvent', new SyncMessageError('unknownEvent', text))
      return
    }
    const origin = { instanceId: message.sender ?? null, messageId: message.id ?? null }
    let context = own ? pending.get(message.id as number) : undefined
    if (own) pending.delete(message.id as number)
    context ??= remoteContext(app, service, path, message.event, message.data, message.context, origin)
    try {
      known.emit.call(service, message.event, message.data, context)
      stats.delivered++
    } catch (cause) {
      state.report(new SyncDeliveryError(path, message.event, { cause }))
    }
  }

  function receive(raw: Payload): void {
    stats.received++
    const { sealer, maxMessageBytes } = state.options
    const size = overLimit(raw, maxMessageBytes)
    if (size !== undefined) {
      state.drop(
        'oversize',
        new SyncMessageError(
          'oversize',
          new SyncOversizeError(size, maxMessageBytes, 'An incoming message').message
        )
      )
      return
    }
    let payload = raw
    if (sealer) {
      const opened = sealer.open(raw)
      if ('refused' in opened) {
        // A signed copy seen already is counted, not reported: adapters resend unconfirmed messages after
        // a reconnect, and such a copy cannot be told from a replay (both are dropped the same).
        const report = opened.refused !== 'replayed'
        const error = new SyncMessageError(opened.refused, `Dropped a message: ${opened.why}`)
        state.drop(opened.refused, report ? error : undefined)
        return
      }
      payload = opened.body
    }
    let message: unknown
    try {
      message = handle.deserialize(payload)
    } catch (cause) {
      state.drop(
        'undecodable',
        new SyncMessageError('undecodable', 'Could not decode an incoming message', { cause })
      )
      return
    }
    const problem = envelopeProblem(message)
    if (problem) {
      state.drop('shape', new SyncMessageError('shape', `Dropped a malformed message: ${problem}`))
      return
    }
    const envelope = message as Envelope
    const own = envelope.sender === handle.instanceId
    if (own && state.options.emitOrder === 'local-first') {
      state.drop('ownEcho')
      return
    }
    if (
      envelope.sender !== undefined &&
      envelope.id !== undefined &&
      !seen.add(envelope.sender, envelope.id)
    ) {
      state.drop('duplicate')
      return
    }
    deliver(envelope, own)
  }

  app.on('sync-in', receive)
  app.mixins.push((service: unknown, path: string, options: unknown) =>
    wrap(service as Service, path, options)
  )
  for (const [path, service] of Object.entries(app.services as Record<string, Service>)) wrap(service, path)
  return state
}

/**
 * The bridge alone, for custom adapters written the feathers-sync way:
 * `app.configure(core)`, set `app.sync`, publish what arrives on `sync-out`, emit `sync-in`.
 */
export const core = (app: Application): void => {
  installCore(app)
}
