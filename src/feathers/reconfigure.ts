/** Tells a repeated `app.configure(sync(…))` with the same options from one with other options. */

const MAX_COMPARE_DEPTH = 32

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== 'object' || value === null) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * The first option (a dotted path) whose value differs between two sets of resolved options, or
 * `undefined` when they are the same. Plain objects and arrays are compared by content, bytes by value,
 * everything else (functions, clients, adapters) by identity. A missing option equals `undefined`.
 */
export function differingOption(before: unknown, now: unknown, path = '', depth = 0): string | undefined {
  if (Object.is(before, now)) return undefined
  const here = path === '' ? 'options' : path
  if (depth > MAX_COMPARE_DEPTH) return here
  if (before instanceof Uint8Array && now instanceof Uint8Array) {
    return Buffer.compare(before, now) === 0 ? undefined : here
  }
  if (Array.isArray(before) && Array.isArray(now)) {
    if (before.length !== now.length) return here
    const same = before.every((item, i) => differingOption(item, now[i], here, depth + 1) === undefined)
    return same ? undefined : here
  }
  if (!isPlainObject(before) || !isPlainObject(now)) return here
  for (const key of new Set([...Object.keys(before), ...Object.keys(now)])) {
    const found = differingOption(before[key], now[key], path === '' ? key : `${path}.${key}`, depth + 1)
    if (found !== undefined) return found
  }
  return undefined
}
