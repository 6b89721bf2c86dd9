import { dirname } from 'node:path'

/** A debug logger: silent until the app turns debugging on. */
export type Debug = (...args: unknown[]) => void
type CreateDebug = (name: string) => Debug

/**
 * The `createDebug` of the `@feathersjs/commons` that the app's own Feathers loads. Going through the
 * app's copy (not one of our own) is what lets `feathers.setDebug(require('debug'))` in the app turn on
 * this library's output too, and it spares the library a dependency on `@feathersjs/commons`.
 * Undefined when that Feathers release has no `createDebug` (early 5.0 pre-releases) or none is found.
 */
function findCreateDebug(): CreateDebug | undefined {
  try {
    const feathers = require.resolve('@feathersjs/feathers')
    const commons = require(require.resolve('@feathersjs/commons', { paths: [dirname(feathers)] })) as {
      createDebug?: unknown
    }
    return typeof commons.createDebug === 'function' ? (commons.createDebug as CreateDebug) : undefined
  } catch {
    return undefined
  }
}

const found = findCreateDebug()
const silent: Debug = () => {}

/** A logger named `feathers-fanout/<module>`, like Feathers' own `@feathersjs/<module>` ones. */
export const createDebug = (name: string): Debug => (found ? found(name) : silent)
