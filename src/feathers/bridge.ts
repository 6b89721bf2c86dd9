import type { Application, HookContext } from '@feathersjs/feathers'
import { Bus } from '../engine/bus'
import type { EngineOptions } from '../engine/options'
import {
  SyncDeliveryError,
  SyncMessageError,
  SyncPublishError,
  SyncSerializationError,
  SyncServiceEventsError
} from '../errors'
import type { Envelope } from '../protocol/envelope'
import type { Position } from '../adapter'
import type { Payload, Serializer } from '../protocol/serializers'
import { POSITION, SYNC, remoteContext } from './context'
import { bindGroups } from './groups'
import { SyncState } from './handle'
import { resolveFeathersOptions, type FeathersOptions, type ResolvedFeathersOptions } from './options'
import { routedContext } from './routing'
import { isAuthenticationService, serviceEventsOf } from './service-events'

type Emit = (event: string | symbol, ...args: unknown[]) => boolean
type Service = { emit: Emit }

/** What the binding keeps for one app. */
export interface Bridge {
  readonly bus: Bus
  readonly handle: SyncState
  readonly options: ResolvedFeathersOptions
  /** Stops publishing and receiving; events stay local from then on. */
  detach(): void
}

const STATE = Symbol.for('feathers-fanout/core')
const WRAPPED = Symbol.for('feathers-fanout/wrapped')
const PENDING_LIMIT = 10_000

type AppWithState = Application & { [STATE]?: Bridge }

/** The bridge of an app, if installed. */
export const bridgeOf = (app: Application): Bridge | undefined => (app as AppWithState)[STATE]

const stripSlashes = (path: string): string => path.replace(/^\/+|\/+$/g, '')

/**
 * Installs the bridge between service events and the bus: each service event is encoded and emitted as
 * `sync-out` (what feathers-sync style adapters publish), and each `sync-in` is decoded and emitted on its
 * service. Installed once per app; later calls return the first bridge.
 */
export function installBridge(
  app: Application,
  options: EngineOptions & FeathersOptions,
  serializer?: Serializer
): Bridge {
  const existing = bridgeOf(app)
  if (existing) return existing
  const resolved = resolveFeathersOptions(options)
  const bus = new Bus(
    { ...options, keepOwn: resolved.emitOrder === 'broker' },
    {
      status: (event) => app.emit('sync-status', event),
      error: (error) => app.emit('sync-error', error),
      // The position rides along as a second argument; feathers-sync style listeners read only the first.
      incoming: (payload, position) => app.emit('sync-in', payload, position),
      gap: (gap) => app.emit('sync-gap', gap),
      deadLetter: (letter, error) => app.emit('sync-dead-letter', letter, error)
    },
    serializer
  )
  const { counters: stats } = bus
  bindGroups(app, bus)
  // The original `emit` of each wrapped service and the events that travel for it.
  const wrapped = new WeakMap<object, { emit: Emit; events: ReadonlySet<string> }>()
  const pending = new Map<number, unknown>()
  let attached = true

  const receive = (raw: Payload, position?: Position) => {
    if (attached) bus.receive(raw, position)
  }
  const detach = () => {
    attached = false
    app.removeListener('sync-in', receive)
  }
  const handle = new SyncState(bus, detach)
  const bridge: Bridge = { bus, handle, options: resolved, detach }
  Object.defineProperty(app, STATE, { value: bridge })
  // `app.sync = {...}` from a feathers-sync style adapter is merged into the handle, so
  // `status`, `stats()` and `close()` work for custom adapters too.
  Object.defineProperty(app, 'sync', {
    configurable: true,
    enumerable: true,
    get: () => handle,
    set: (info) => handle.adopt(info)
  })

  function publish(path: string, event: string, data: unknown, ctx: unknown): boolean {
    let context: Record<string, unknown> | null
    try {
      context = ctx == null ? null : routedContext(resolved, ctx as HookContext, path, event, data)
    } catch (cause) {
      bus.drop('serializeFailed', new SyncSerializationError(path, event, { cause }))
      return false
    }
    const encoded = bus.encode({ event, path, data, context })
    if (!encoded) return false
    if (resolved.emitOrder === 'broker') {
      if (pending.size >= PENDING_LIMIT) pending.delete(pending.keys().next().value as number)
      pending.set(encoded.envelope.id as number, ctx)
    }
    try {
      app.emit('sync-out', encoded.payload)
    } catch (cause) {
      stats.publishErrors++
      bus.report(
        new SyncPublishError(`A sync-out listener threw while publishing "${event}" of "${path}"`, { cause })
      )
    }
    return true
  }

  /** `options` are those the app's Feathers hands to mixins; absent for services registered earlier. */
  function wrap(service: Service, path: string, options?: unknown): void {
    if ((service as { [WRAPPED]?: true })[WRAPPED]) return
    const original = service.emit
    // Logins and logouts carry access tokens: they stay on this instance unless asked otherwise.
    if (!resolved.syncAuthentication && isAuthenticationService(service)) return
    const { events, known } = serviceEventsOf(service, options)
    if (!known) {
      // Deferred, so a sync-error listener added right after `app.configure(sync(...))` hears it.
      const error = new SyncServiceEventsError(path, [...events])
      queueMicrotask(() => bus.report(error))
    }
    wrapped.set(service, { emit: original, events })
    Object.defineProperty(service, WRAPPED, { value: true })
    service.emit = function emit(this: unknown, event: string | symbol, ...args: unknown[]): boolean {
      const [data, ctx] = args
      const local = typeof event !== 'string' || !events.has(event) || !attached
      if (local || (ctx as { [SYNC]?: unknown } | undefined)?.[SYNC] === false) {
        return original.call(this, event, ...args)
      }
      if (resolved.emitOrder === 'broker') {
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

  function deliver(message: Envelope, own: boolean, position: Position | undefined): void {
    const path = stripSlashes(message.path)
    const service = (app.services as Record<string, Service | undefined>)[path]
    const known = service && wrapped.get(service)
    if (!service || !known) {
      const text = service
        ? `Events of the authentication service "${path}" do not sync (option syncAuthentication)`
        : `No service at path "${message.path}"`
      bus.drop('unknownPath', new SyncMessageError('unknownPath', text))
      return
    }
    if (!known.events.has(message.event)) {
      const text = `Service "${path}" does not emit "${message.event}"`
      bus.drop('unknownEvent', new SyncMessageError('unknownEvent', text))
      return
    }
    const origin = { instanceId: message.sender ?? null, messageId: message.id ?? null }
    let context = own ? pending.get(message.id as number) : undefined
    if (own) pending.delete(message.id as number)
    // One hook context can emit several events (a multi create): each gets its own view of it, so the
    // position read by a later (asynchronous) channel publish is that event's.
    if (context != null && position !== undefined) context = Object.create(context) as object
    context ??= remoteContext(app, service, path, message.event, message.data, message.context, origin)
    if (position !== undefined) (context as { [POSITION]?: Position })[POSITION] = position
    try {
      known.emit.call(service, message.event, message.data, context)
      stats.delivered++
    } catch (cause) {
      bus.report(new SyncDeliveryError(path, message.event, { cause }))
    }
  }

  bus.subscribe(({ envelope, own, position }) => deliver(envelope, own, position))
  app.on('sync-in', receive)
  app.mixins.push((service: unknown, path: string, options: unknown) =>
    wrap(service as Service, path, options)
  )
  for (const [path, service] of Object.entries(app.services as Record<string, Service>)) wrap(service, path)
  return bridge
}
