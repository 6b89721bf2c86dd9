import type { Bus } from '../engine/bus'
import type { SyncHealth } from '../engine/health'
import type { SyncStats, SyncStatus } from '../engine/stats'
import { busMetrics, type SyncMetrics, type SyncMetricsOptions } from '../ops/metrics'
import { SyncConfigError } from '../errors'
import type { DeserializeFn, SerializeFn } from '../protocol/serializers'
import { groupApi, type ConsumerGroupApi } from './groups'

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
export interface SyncHandle extends SyncInfo, ConsumerGroupApi {
  deserialize: DeserializeFn
  /** Random id of this instance, carried by every message it sends. */
  readonly instanceId: string
  /** Connection status right now. */
  readonly status: SyncStatus
  /** A copy of the counters. */
  stats(): SyncStats
  /** Readiness, liveness, last message age and outbox fill, for health probes (docs/operations.md). */
  health(): SyncHealth
  /**
   * Reports this app's counters, status, outbox and latencies as Prometheus metrics through
   * `prom-client` (an optional peer, loaded only now); see docs/operations.md for the list.
   * @throws SyncDependencyError when `prom-client` is not installed
   */
  metrics(options?: SyncMetricsOptions): SyncMetrics
  /**
   * Waits (bounded by `closeTimeoutMs`) for queued messages to reach the broker, then releases
   * what the adapter opened. Safe to call more than once; `app.teardown()` calls it too.
   */
  close(): Promise<void>
}

/**
 * The object behind `app.sync`: a view of the app's bus. The bus alone writes it, except that a
 * feathers-sync style custom adapter's assignment (`app.sync = {…}`) is taken over while no built-in
 * adapter runs.
 */
export class SyncState implements SyncHandle {
  private adopted: Promise<unknown> | undefined
  private closing: Promise<void> | undefined
  private readonly groups: ConsumerGroupApi

  constructor(
    private readonly bus: Bus,
    private readonly detach: () => void
  ) {
    this.groups = groupApi(bus)
  }

  consume: ConsumerGroupApi['consume'] = (...args) => this.groups.consume(...args)
  groupStats: ConsumerGroupApi['groupStats'] = () => this.groups.groupStats()
  deadLetters: ConsumerGroupApi['deadLetters'] = (group) => this.groups.deadLetters(group)
  replay: ConsumerGroupApi['replay'] = (group, id) => this.groups.replay(group, id)

  get type(): string {
    return this.bus.type
  }

  get ready(): Promise<unknown> {
    return this.adopted ?? this.bus.ready
  }

  get serialize(): SerializeFn {
    return this.bus.codec.serializer.serialize
  }

  get deserialize(): DeserializeFn {
    return this.bus.codec.serializer.deserialize
  }

  get instanceId(): string {
    return this.bus.instanceId
  }

  get status(): SyncStatus {
    return this.bus.status
  }

  stats(): SyncStats {
    return this.bus.stats()
  }

  health(): SyncHealth {
    return this.bus.health()
  }

  metrics(options?: SyncMetricsOptions): SyncMetrics {
    return busMetrics(this.bus, options)
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.detach()
      await this.bus.close()
    })()
    return this.closing
  }

  /**
   * Takes over what a feathers-sync style custom adapter assigned to `app.sync`.
   * @throws SyncConfigError when a built-in adapter runs: it owns the serializer and status
   */
  adopt(info: SyncInfo): void {
    if ((info as unknown) === this) return
    if (this.bus.running) {
      throw new SyncConfigError(
        'sync',
        `app.sync belongs to the ${this.bus.type} adapter configured with sync(); a custom adapter needs app.configure(core) instead`
      )
    }
    this.bus.type = info.type
    this.bus.codec.serializer = {
      name: 'custom',
      serialize: info.serialize,
      deserialize: info.deserialize as DeserializeFn
    }
    const ready = Promise.resolve(info.ready)
    this.adopted = ready
    ready.then(
      () => this.bus.setStatus('ready'),
      () => undefined
    )
  }
}
