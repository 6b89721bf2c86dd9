import type { ResolvedGroupOptions } from './group-options'

/** The outcome of running a handler with retries. */
export type AttemptsOutcome =
  /** It succeeded on attempt `attempts`. */
  | { ok: true; attempts: number }
  /** It failed on every attempt up to `maxAttempts`; `error` is the last failure. */
  | { ok: false; attempts: number; error: Error }
  /** The member stopped while waiting to retry: the message stays unacknowledged for another member. */
  | { ok: 'abandoned'; attempts: number }

/** Raised when an attempt takes longer than `timeoutMs`. */
export class AttemptTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`The handler did not settle within ${timeoutMs} ms`)
    this.name = 'AttemptTimeoutError'
  }
}

const asError = (value: unknown): Error =>
  value instanceof Error ? value : new Error(`The handler failed with ${String(value)}`)

/** Runs `run` once, bounded by `timeoutMs`; the signal it gets is aborted on timeout. */
async function attemptOnce(
  run: (signal: AbortSignal) => unknown,
  timeoutMs: number
): Promise<Error | undefined> {
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new AttemptTimeoutError(timeoutMs)
      controller.abort(error)
      reject(error)
    }, timeoutMs)
    // The handler's own work keeps the process alive if it must; the bound alone should not.
    timer.unref()
  })
  try {
    await Promise.race([Promise.resolve().then(() => run(controller.signal)), timeout])
    return undefined
  } catch (error) {
    return asError(error)
  } finally {
    clearTimeout(timer)
  }
}

/** Wait before retry number `retry` (1 for the first retry): doubled each time, capped. */
export const retryDelay = (options: ResolvedGroupOptions, retry: number): number =>
  Math.min(options.retryDelayMs * 2 ** Math.min(retry - 1, 30), options.maxRetryDelayMs)

/**
 * Runs a handler until it succeeds or `maxAttempts` is reached, with exponential backoff between attempts.
 * `firstAttempt` counts what earlier deliveries of the same message may have tried already (a broker
 * redelivery after a crash starts at its delivery count), so a message that keeps killing its members is
 * still dead-lettered in the end. `stopped()` ends the waits: the message is then abandoned, not acked.
 */
export async function runAttempts(
  run: (attempt: number, signal: AbortSignal) => unknown,
  options: ResolvedGroupOptions,
  firstAttempt: number,
  hooks: { retried(): void; wait(ms: number): Promise<boolean> }
): Promise<AttemptsOutcome> {
  let attempt = Math.min(Math.max(1, firstAttempt), options.maxAttempts)
  // Bounded: `attempt` grows by one per turn up to maxAttempts.
  for (let retry = 1; ; retry++, attempt++) {
    const error = await attemptOnce((signal) => run(attempt, signal), options.timeoutMs)
    if (error === undefined) return { ok: true, attempts: attempt }
    if (attempt >= options.maxAttempts) return { ok: false, attempts: attempt, error }
    hooks.retried()
    if (!(await hooks.wait(retryDelay(options, retry)))) return { ok: 'abandoned', attempts: attempt }
  }
}
