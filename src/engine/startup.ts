import { isRetryable } from '../errors'
import { createDebug } from './debug'

const debug = createDebug('feathers-fanout/engine')

/** First wait before a failed subscribe step is tried again (ms), doubled per failure up to the cap. */
const FIRST_RETRY_MS = 100
const MAX_RETRY_MS = 2_000

/**
 * Runs `step` (subscribing, at startup) until it succeeds. A connection lost in the middle of it (the
 * broker closing the connection while the stream's tail is read, a reply refused for a moment) is no
 * reason to give up for good: before, such an instance never became ready, though the broker was back a
 * moment later. A step that fails with a configuration error (`SyncConfigError`) or an error marked not
 * retryable fails at once. Each failure goes to `failed`; `stopped()` ends the retries (a closed app),
 * and the last failure is thrown then.
 * @throws the step's error when it is not retryable, or when stopped.
 */
export async function untilSubscribed(
  step: () => Promise<void>,
  stopped: () => boolean,
  failed: (cause: unknown) => void
): Promise<void> {
  for (let waitMs = FIRST_RETRY_MS; ; waitMs = Math.min(waitMs * 2, MAX_RETRY_MS)) {
    try {
      return await step()
    } catch (cause) {
      // A SyncConfigError is not retryable (src/errors.ts), so a wrong option fails at once.
      if (stopped() || !isRetryable(cause)) throw cause
      debug('subscribing failed, trying again in %d ms', waitMs, cause)
      failed(cause)
      await new Promise((resolve) => setTimeout(resolve, waitMs).unref())
      if (stopped()) throw cause
    }
  }
}
