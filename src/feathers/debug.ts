import { dirname } from 'node:path'
import { useDebugBackend, type CreateDebug } from '../engine/debug'

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

/** Routes the engine's and adapters' debug output through the app's Feathers, where it has `createDebug`. */
export function useFeathersDebug(): void {
  const found = findCreateDebug()
  if (found) useDebugBackend(found)
}
