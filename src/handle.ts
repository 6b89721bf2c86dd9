import { randomBytes } from 'node:crypto'
import { createDebug } from './debug'
import type { Application } from '@feathersjs/feathers'
import { json, type DeserializeFn, type SerializeFn } from './serializers'
import { snapshot, type SyncStats, type SyncStatus, type SyncStatusEvent } from './stats'

const debug = createDebug('feathers-fanout/handle')

/**
 * What a custom adapter sets as `app.sync`, exactly as feathers-sync documents it.
 */
export interface SyncInfo {
  type: string
  ready: Promise<unknown>
  serialize: SerializeFn
  /** Text-only functions such as `JSON.parse` are fine for transports that deliver text. */
  deserialize: DeserializeFn | ((payload: string) => unknown)
}

/** `app.sync` once the library is configured. */
export interface SyncHandle extends SyncInfo {
  deserialize: DeserializeFn
  /** Random id of this instance, carried by every message it sends. */
  readonly instanceId: string
  /** Connection status right now. */
  readonly status: SyncStatus
  /** A copy of the counters. */
  stats(): SyncStats
  /**
   * Waits (bounded by `closeTimeoutMs`) for queued messages to reach the broker, then releases
   * what the adapter opened. Safe to call more than once; `app.teardown()` calls it too.
   */
  close(): Promise<void>
}

/** The object behind `app.sync`. A custom adapter's assignment is merged into it. */
export class SyncState implements SyncHandle {
  type = 'custom'
  ready: Promise<unknown> = Promise.resolve()
  serialize: SerializeFn = json.serialize
  deserialize: DeserializeFn = json.deserialize
  readonly instanceId = randomBytes(8).toString('hex')
  /** Set by whoever owns the connection (the adapter runner); `close()` calls it once. */
  closer: (() => Promise<void>) | undefined
  /** Set by the core: stops publishing and receiving. Used by `close()` when there is no runner. */
  detach: () => void = () => undefined
  private current: SyncStatus = 'connecting'
  private closing: Promise<void> | undefined

  constructor(
    private readonly app: Application,
    private readonly counters: SyncStats
  ) {}

  get status(): SyncStatus {
    return this.current
  }

  stats(): SyncStats {
    return snapshot(this.counters)
  }

  close(): Promise<void> {
    this.closing ??= (this.closer ? this.closer() : Promise.resolve(this.detach())).finally(() =>
      this.setStatus('closed')
    )
    return this.closing
  }

  /** Moves to `status` and tells the app, once per actual change. */
  setStatus(status: SyncStatus, cause?: Error): void {
    const previous = this.current
    if (previous === status || previous === 'closed') return
    this.current = status
    const event: SyncStatusEvent = cause ? { status, previous, cause } : { status, previous }
    try {
      this.app.emit('sync-status', event)
    } catch (listenerError) {
      // Status changes come from broker callbacks: a throwing listener must not crash the process.
      debug('a sync-status listener threw', listenerError)
    }
  }

  /** Takes over what a feathers-sync style custom adapter assigned to `app.sync`. */
  adopt(info: SyncInfo): void {
    if ((info as unknown) === this) return
    this.type = info.type
    this.serialize = info.serialize
    this.deserialize = info.deserialize as DeserializeFn
    this.ready = Promise.resolve(info.ready)
    this.ready.then(
      () => this.setStatus('ready'),
      () => undefined
    )
  }
}
