import type { Adapter } from './adapter'
import { SyncConfigError } from './errors'
import type { ResolvedOptions } from './adapter'

/** Makes an adapter from validated options. It must not connect yet: `connect()` does. */
export type AdapterFactory = (options: ResolvedOptions) => Adapter

/** What a registration says about its adapter besides the factory. */
export interface AdapterRegistration {
  /**
   * Names of the options the factory reads besides the common ones (e.g. `['kafkaBrokers']`). `sync()`
   * refuses option names no adapter declares, so an adapter that reads its own must list them here.
   * @default []
   */
  optionNames?: readonly string[]
}

interface Entry {
  factory: AdapterFactory
  optionNames: readonly string[]
}

const entries = new Map<string, Entry>()

/**
 * Registers an adapter for a URI scheme (without the colon), so `sync({ uri: 'scheme://…' })`
 * finds it. Matching is exact. A later registration of the same scheme replaces the earlier one.
 */
export function registerAdapter(
  scheme: string,
  factory: AdapterFactory,
  registration: AdapterRegistration = {}
): void {
  if (typeof scheme !== 'string' || !/^[a-z][a-z0-9+.-]*$/.test(scheme)) {
    throw new SyncConfigError(
      'scheme',
      `Adapter scheme must be lowercase letters, digits, "+", "." or "-", got "${String(scheme)}"`
    )
  }
  if (typeof factory !== 'function') {
    throw new SyncConfigError('factory', `Adapter factory for "${scheme}" must be a function`)
  }
  const { optionNames = [] } = registration
  if (!Array.isArray(optionNames) || optionNames.some((name) => typeof name !== 'string' || name === '')) {
    throw new SyncConfigError(
      'optionNames',
      `"optionNames" of the adapter for "${scheme}" must be an array of option names`
    )
  }
  entries.set(scheme, { factory, optionNames: [...optionNames] })
}

/** Schemes that have an adapter, sorted. */
export const knownSchemes = (): string[] => [...entries.keys()].sort()

/** The option names every registered adapter declared. */
export const adapterOptionNames = (): string[] => [...entries.values()].flatMap((entry) => entry.optionNames)

/** The factory for `scheme`; throws a configuration error listing the known schemes. */
export function factoryFor(scheme: string): AdapterFactory {
  const entry = entries.get(scheme)
  if (!entry) {
    throw new SyncConfigError(
      'uri',
      `No adapter for URI scheme "${scheme}:"; known schemes: ${knownSchemes().join(', ')}`
    )
  }
  return entry.factory
}
