export const isPromise = (value: unknown): value is Promise<unknown> =>
  typeof (value as Promise<unknown> | undefined)?.then === 'function'

/**
 * Waits for `promise`, or rejects with `onTimeout()` after `ms`. With `keepAlive` the timer keeps the
 * process alive until it settles (a script awaiting `ready` gets its answer instead of a silent exit),
 * so `cancel` must be called when the wait stops mattering; `cancel(error)` also ends the wait with it.
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => Error,
  keepAlive = false
): { result: Promise<T>; cancel: (error?: Error) => void } {
  let timer: NodeJS.Timeout | undefined
  let stop: (error: Error) => void = () => undefined
  const timeout = new Promise<never>((_, reject) => {
    stop = reject
    timer = setTimeout(() => reject(onTimeout()), ms)
    if (!keepAlive) timer.unref()
  })
  const cancel = (error?: Error) => {
    clearTimeout(timer)
    if (error) stop(error)
  }
  return { result: Promise.race([promise, timeout]).finally(() => clearTimeout(timer)), cancel }
}
