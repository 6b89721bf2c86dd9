import type { Adapter } from './adapter'
import { SyncConfigError } from './errors'
import type { ResolvedOptions } from './adapter'

/** Makes an adapter from validated options. It must not connect yet: `connect()` does. */
export type AdapterFactory = (options: ResolvedOptions) => Adapter

const factories = new Map<string, AdapterFactory>()

/**
 * Registers an adapter for a URI scheme (without the colon), so `sync({ uri: 'scheme://…' })`
 * finds it. Matching is exact. A later registration of the same scheme replaces the earlier one.
 */
export function registerAdapter(scheme: string, factory: AdapterFactory): void {
  if (typeof scheme !== 'string' || !/^[a-z][a-z0-9+.-]*$/.test(scheme)) {
    throw new SyncConfigError(
      'scheme',
      `Adapter scheme must be lowercase letters, digits, "+", "." or "-", got "${String(scheme)}"`
    )
  }
  if (typeof factory !== 'function') {
    throw new SyncConfigError('factory', `Adapter factory for "${scheme}" must be a function`)
  }
  factories.set(scheme, factory)
}

/** Schemes that have an adapter, sorted. */
export const knownSchemes = (): string[] => [...factories.keys()].sort()

/** The factory for `scheme`; throws a configuration error listing the known schemes. */
export function factoryFor(scheme: string): AdapterFactory {
  const factory = factories.get(scheme)
  if (!factory) {
    throw new SyncConfigError(
      'uri',
      `No adapter for URI scheme "${scheme}:"; known schemes: ${knownSchemes().join(', ')}`
    )
  }
  return factory
}
