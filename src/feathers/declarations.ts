import type { SYNC } from './context'
import type { SyncGap } from '../engine/durable'
import type { SyncDeadLetterError, SyncError } from '../errors'
import type { DeadLetter } from '../engine/dead-letters'
import type { SyncHandle, SyncInfo } from './handle'
import type { SyncStatusEvent } from '../engine/stats'

/**
 * Node's own listener type for events this library does not name. It stays `any` like Node's, so the
 * listeners an app already has (`app.on('connection', (connection) => …)`) keep their parameter types.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyListener = (...args: any[]) => void

declare module '@feathersjs/feathers/lib/declarations' {
  // The type parameters must match Feathers' own declaration to merge with it.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface Application<Services, Settings> {
    /**
     * Set by `app.configure(sync(...))` or `app.configure(core)`. A custom adapter may assign
     * `{ type, ready, serialize, deserialize }`, which is merged into the handle.
     */
    get sync(): SyncHandle
    set sync(value: SyncInfo)

    /** Operational problems: lost connections, dropped messages, listeners that threw. */
    on(event: 'sync-error', listener: (error: SyncError) => void): this
    /** Each change of `app.sync.status`. */
    on(event: 'sync-status', listener: (event: SyncStatusEvent) => void): this
    /** Durable delivery: messages retention dropped before this instance read them (tell clients to refetch). */
    on(event: 'sync-gap', listener: (gap: SyncGap) => void): this
    /** A consumer group gave up on an event after `maxAttempts`; list it with `app.sync.deadLetters(group)`. */
    on(event: 'sync-dead-letter', listener: (letter: DeadLetter, error: SyncDeadLetterError) => void): this
    on(event: string | symbol, listener: AnyListener): this
    once(event: 'sync-error', listener: (error: SyncError) => void): this
    once(event: 'sync-status', listener: (event: SyncStatusEvent) => void): this
    once(event: 'sync-gap', listener: (gap: SyncGap) => void): this
    once(event: 'sync-dead-letter', listener: (letter: DeadLetter, error: SyncDeadLetterError) => void): this
    once(event: string | symbol, listener: AnyListener): this
  }
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface HookContext<A, S> {
    /** Set to `false` in a hook to keep this call's event on this instance only. */
    [SYNC]?: boolean
  }
}
