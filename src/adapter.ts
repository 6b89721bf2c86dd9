import type { SyncError } from './errors'
import type { Payload } from './serializers'

/** What the core gives an adapter to report back with. */
export interface AdapterHooks {
  /**
   * The connection was lost (`reconnecting`) or the subscription is active again (`ready`).
   * The core queues publishes in its outbox while not ready and flushes them on `ready`.
   */
  status(status: 'ready' | 'reconnecting', cause?: Error): void
  /** An operational problem the app should hear about; it never stops the adapter. */
  error(error: SyncError): void
}

/**
 * The contract every adapter implements. The core owns the envelope, serialization,
 * filtering, the outbox and error reporting; an adapter only moves bytes. Any adapter must:
 * - never throw from a driver callback, and report driver errors through `hooks.error`;
 * - deliver each message it receives on the channel once to `onMessage`, as text or bytes;
 * - keep retrying after a lost connection, and report it with `hooks.status`;
 * - close only what it opened, never a client the user passed in.
 */
export interface Adapter {
  /** Short name shown as `app.sync.type`, e.g. `redis`. */
  readonly type: string
  /** Where it connects, for error messages: `host:port`, never credentials. */
  readonly target: string
  /**
   * The default of the `resumeDelayMs` option for this adapter: about the longest time between two
   * instances getting their subscription back after the same outage, i.e. its longest wait between
   * reconnect attempts plus a margin. Leave it out (0) where instances cannot miss each other's return.
   */
  readonly resumeDelayMs?: number
  /**
   * Opens connections. Resolves once it can publish. If the broker is unreachable it keeps
   * retrying; the core rejects `app.sync.ready` after `connectTimeoutMs` but keeps waiting.
   */
  connect(hooks: AdapterHooks): Promise<void>
  /** Subscribes to the channel. Resolves once the broker has registered the subscription. */
  subscribe(onMessage: (payload: Payload) => void): Promise<void>
  /** Hands one message to the broker. Resolves (or returns) once the driver took it. */
  publish(payload: Payload): void | Promise<void>
  /** Releases everything the adapter opened. Safe to call more than once. */
  close(): Promise<void>
}
