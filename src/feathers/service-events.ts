/** Events every Feathers service sends for its standard methods. */
export const STANDARD_EVENTS: readonly string[] = ['created', 'updated', 'patched', 'removed']

/** Description of the symbol under which Feathers stores a service's options. */
const OPTIONS_SYMBOL = '@feathersjs/service'
const MAX_PROTOTYPES = 8

const stringList = (value: unknown): readonly string[] | undefined =>
  Array.isArray(value) && value.every((item) => typeof item === 'string') ? value : undefined

/**
 * The options Feathers stored on a service, found by the symbol's description rather than by the symbol
 * itself: Feathers 5.0.0 made it with `Symbol()`, so only the app's own copy of Feathers holds that
 * symbol, and later releases use `Symbol.for()`. Both carry the same description.
 */
function storedOptions(service: object): unknown {
  let target: object | null = service
  for (let depth = 0; target !== null && depth < MAX_PROTOTYPES; depth++) {
    for (const key of Object.getOwnPropertySymbols(target)) {
      if (key.description === OPTIONS_SYMBOL) return (target as Record<symbol, unknown>)[key]
    }
    target = Object.getPrototypeOf(target) as object | null
  }
  return undefined
}

const serviceEventsIn = (options: unknown): readonly string[] | undefined =>
  typeof options === 'object' && options !== null
    ? stringList((options as { serviceEvents?: unknown }).serviceEvents)
    : undefined

/** What is known about the events of one service. */
export interface ServiceEvents {
  /** The events that travel to other instances. */
  readonly events: ReadonlySet<string>
  /** False when none of Feathers' records was found and the fallback was assumed. */
  readonly known: boolean
}

/**
 * The events a service sends to clients, read from what the app's own Feathers recorded: the options
 * handed to a mixin (`given`), else the options stored on the service, else `_serviceEvents` (early 5.0
 * pre-releases). When none is there, the standard events plus `service.events`, with `known: false`.
 */
export function serviceEventsOf(service: object, given?: unknown): ServiceEvents {
  const found =
    serviceEventsIn(given) ??
    serviceEventsIn(storedOptions(service)) ??
    stringList((service as { _serviceEvents?: unknown })._serviceEvents)
  if (found) return { events: new Set(found), known: true }
  const own = stringList((service as { events?: unknown }).events) ?? []
  return { events: new Set([...STANDARD_EVENTS, ...own]), known: false }
}

const AUTHENTICATION_METHODS = ['createAccessToken', 'verifyAccessToken', 'getStrategies'] as const

/**
 * Whether `service` is an authentication service of `@feathersjs/authentication` (its AuthenticationBase
 * methods), recognised by shape so that the app's own copy of the package counts. Its `created` (login)
 * and `removed` (logout) events carry the access token and the user.
 */
export const isAuthenticationService = (service: object): boolean =>
  AUTHENTICATION_METHODS.every((name) => typeof (service as Record<string, unknown>)[name] === 'function')
