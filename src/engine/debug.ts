import { debuglog } from 'node:util'

/**
 * Debug output of the engine and adapters, silent unless `NODE_DEBUG` names the section (e.g.
 * `NODE_DEBUG=feathers-fanout*`). Node's own `util.debuglog`, so the engine needs no framework.
 */
export const createDebug = (section: string): ((...args: unknown[]) => void) => {
  const log = debuglog(section.replace(/\//g, '-'))
  return (...args: unknown[]) => log(...(args as [string, ...unknown[]]))
}
