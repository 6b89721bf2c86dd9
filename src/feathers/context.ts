import type { Application, HookContext } from '@feathersjs/feathers'

/**
 * Set `context[SYNC] = false` in any hook to keep that call's event on this instance only.
 * Registered globally so that copies of this package loaded twice agree on it.
 */
export const SYNC: unique symbol = Symbol.for('feathers-fanout/sync') as never

/**
 * In durable mode, the log position of the message an event was emitted for, on the context the event
 * is emitted with (client recovery reads it when the event is published to connections).
 */
export const POSITION: unique symbol = Symbol.for('feathers-fanout/position') as never

/** The log position an event's context carries, if it came through a durable log. */
export const positionOf = (context: unknown): string | undefined => {
  if (typeof context !== 'object' || context === null) return undefined
  const position = (context as { [POSITION]?: unknown })[POSITION]
  return typeof position === 'string' ? position : undefined
}

/** Where a remote event came from; found on `context.remote` of events from other instances. */
export interface RemoteOrigin {
  /** Instance id of the sender, or `null` when a feathers-sync 3.x instance sent it. */
  instanceId: string | null
  /** The sender's message number, or `null` when a feathers-sync 3.x instance sent it. */
  messageId: number | null
}

/** Builds the part of a hook context that travels with an event. */
export type ContextBuilder = (context: HookContext) => Record<string, unknown> | null

/** Params that travel by default: none can hold credentials or connections. */
export const DEFAULT_CONTEXT_PARAMS: readonly string[] = ['query', 'provider', 'route']

const MAX_DEPTH = 32
const DROP = Symbol('drop')

const isBinary = (value: object): boolean => ArrayBuffer.isView(value)
const isBsonValue = (value: object): boolean =>
  typeof (value as { _bsontype?: unknown })._bsontype === 'string'

/**
 * Copies a value keeping only what every serializer can encode: plain objects, arrays,
 * primitives, `Date`, bytes and BSON values. Functions, symbols, circular references and
 * class instances without `toJSON` are left out rather than failing the whole message.
 */
export function sanitize(value: unknown, ancestors: object[] = []): unknown {
  const copy = copySafe(value, ancestors)
  return copy === DROP ? undefined : copy
}

function copySafe(value: unknown, ancestors: object[]): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      return Number.isFinite(value) ? value : null
    case 'object':
      break
    default:
      return DROP
  }
  if (value === null) return null
  if (value instanceof Date || isBinary(value) || isBsonValue(value)) return value
  if (ancestors.length >= MAX_DEPTH || ancestors.includes(value)) return DROP
  ancestors.push(value)
  try {
    if (Array.isArray(value)) {
      return value.map((item) => {
        const copy = copySafe(item, ancestors)
        return copy === DROP ? null : copy
      })
    }
    const proto: unknown = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null) {
      const toJSON = (value as { toJSON?: unknown }).toJSON
      return typeof toJSON === 'function' ? copySafe(toJSON.call(value), ancestors) : DROP
    }
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value)) {
      const item = copySafe((value as Record<string, unknown>)[key], ancestors)
      if (item !== DROP) out[key] = item
    }
    return out
  } finally {
    ancestors.pop()
  }
}

/** The default builder: method, type, id, event, path and the allowed params, made JSON-safe. */
export function travellingContext(
  context: HookContext,
  allowedParams: readonly string[]
): Record<string, unknown> {
  const params: Record<string, unknown> = {}
  const source = (context.params ?? {}) as Record<string, unknown>
  for (const name of allowedParams) {
    if (source[name] !== undefined) {
      const value = sanitize(source[name])
      if (value !== undefined) params[name] = value
    }
  }
  const out: Record<string, unknown> = { method: context.method ?? null, type: context.type ?? null, params }
  if (context.id !== undefined && context.id !== null) out.id = sanitize(context.id)
  return out
}

/** Builds the context a remote event is emitted with on the receiving instance. */
export function remoteContext(
  app: Application,
  service: unknown,
  path: string,
  event: string,
  data: unknown,
  travelled: Record<string, unknown> | null | undefined,
  origin: RemoteOrigin
): Record<string, unknown> {
  return {
    method: null,
    type: null,
    id: undefined,
    ...travelled,
    params: (travelled?.params as Record<string, unknown> | undefined) ?? {},
    app,
    service,
    path,
    event,
    result: data,
    remote: origin
  }
}

/** True when an event's context says it came from another instance. */
export const isRemote = (context: unknown): boolean =>
  typeof context === 'object' &&
  context !== null &&
  typeof (context as { remote?: unknown }).remote === 'object' &&
  (context as { remote?: unknown }).remote !== null
