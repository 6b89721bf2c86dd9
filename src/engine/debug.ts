import { debuglog } from 'node:util'

/** A debug logger: silent until debugging is turned on. */
export type Debug = (...args: unknown[]) => void
/** Makes the logger of one module, e.g. `feathers-fanout/engine`. */
export type CreateDebug = (name: string) => Debug

// Node's own: on with `NODE_DEBUG=feathers-fanout*`. A binding may swap in its framework's loggers.
let backend: CreateDebug = (name) => {
  const log = debuglog(name.replace(/\//g, '-'))
  return (...args: unknown[]) => log(...(args as [string, ...unknown[]]))
}
const made = new Map<string, Debug>()

/**
 * Loggers of the engine and adapters come from `create` from now on (the Feathers binding passes the
 * app's `createDebug`, so `feathers.setDebug(…)` turns this library's output on with Feathers' own).
 */
export function useDebugBackend(create: CreateDebug): void {
  backend = create
  made.clear()
}

/** A logger named `feathers-fanout/<module>`; bound to the backend on first use, not at import. */
export const createDebug =
  (name: string): Debug =>
  (...args: unknown[]) => {
    let log = made.get(name)
    if (!log) made.set(name, (log = backend(name)))
    log(...args)
  }
