import {
  capabilitiesOf,
  type Adapter,
  type DurableLog,
  type GapReason,
  type Payload,
  type Position,
  type StartPosition
} from '../adapter'
import { SyncConfigError, SyncConnectionError, type SyncError } from '../errors'
import type { EngineOptions, ResolvedDurable } from './options'

/** A gap in durable delivery: messages retention dropped before this instance could read them. */
export interface SyncGap {
  /** The channel (`key`). */
  channel: string
  /** The last position this instance handled before the gap. */
  after: Position
  /** The first position still held; everything between the two is gone. */
  firstAvailable: Position
  /** How many messages are gone, where the broker's numbering tells it (JetStream, RabbitMQ streams); undefined on Redis. */
  missing: number | undefined
  /**
   * `retention`: the broker's limits dropped them (`maxMessages`, `maxAgeMs`). `lost`: the broker lost
   * them otherwise (the log was deleted, flushed, evicted or went back, e.g. a replica promoted behind its
   * master or a server restarted without persistence); then `firstAvailable` may be below `after`.
   */
  reason: GapReason
}

/** What the durable session reports to the engine. */
export interface DurableSink {
  /** A message of the log, in log order. */
  message(payload: Payload, position: Position): void
  gap(gap: SyncGap): void
  report(error: SyncError): void
}

// Named positions are written at most this often, and once more on close.
const SAVE_INTERVAL_MS = 1_000

/**
 * Durable delivery over an adapter's {@link DurableLog}: where the subscription starts (a named instance
 * where it stopped, kept by the broker; an unnamed one at the tail), the position of what was handed over,
 * and saving it for a named instance (at most once a second, and on close).
 */
export class DurableSession {
  private last: Position | undefined
  private saved: Position | undefined
  private saveTimer: NodeJS.Timeout | undefined
  private saving: Promise<void> = Promise.resolve()

  constructor(
    private readonly log: Adapter & DurableLog,
    private readonly settings: ResolvedDurable,
    private readonly channel: string
  ) {}

  /** The last position handed over, if any. */
  get position(): Position | undefined {
    return this.last
  }

  /** `messageId`: the same on every resend of one message (see `DurableLog.publishDurable`). */
  publish(payload: Payload, messageId: string): Promise<unknown> {
    return this.log.publishDurable(payload, messageId)
  }

  /** Opens the subscription where this instance should start. */
  async subscribe(sink: DurableSink): Promise<void> {
    const { consumerName } = this.settings
    const stored = consumerName === undefined ? undefined : await this.log.loadPosition(consumerName)
    const start: StartPosition = stored === undefined ? { kind: 'tail' } : { kind: 'after', position: stored }
    this.saved = stored
    await this.log.subscribeDurable(start, {
      message: (payload, position) => {
        sink.message(payload, position)
        this.last = position
        this.scheduleSave(sink)
      },
      gap: ({ after, firstAvailable, missing, reason = 'retention' }) =>
        sink.gap({ channel: this.channel, after, firstAvailable, missing, reason })
    })
  }

  /** Writes the last position of a named instance now (before close). */
  async flush(sink: Pick<DurableSink, 'report'>): Promise<void> {
    clearTimeout(this.saveTimer)
    this.saveTimer = undefined
    this.save(sink)
    await this.saving
  }

  private scheduleSave(sink: DurableSink): void {
    if (this.settings.consumerName === undefined || this.saveTimer !== undefined) return
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined
      this.save(sink)
    }, SAVE_INTERVAL_MS)
    this.saveTimer.unref()
  }

  private save(sink: Pick<DurableSink, 'report'>): void {
    const { consumerName } = this.settings
    const position = this.last
    if (consumerName === undefined || position === undefined || position === this.saved) return
    this.saving = this.saving
      .then(() => this.log.savePosition(consumerName, position))
      .then(
        () => {
          this.saved = position
        },
        (cause: unknown) =>
          sink.report(
            new SyncConnectionError(this.log.target, `Could not save the position of "${consumerName}"`, {
              cause
            })
          )
      )
  }
}

/**
 * The durable session for `adapter` when the options ask for durable delivery, undefined for plain pub/sub.
 * @throws SyncConfigError when `durable` is set and the adapter has no durable capability
 */
export function durableSessionFor(adapter: Adapter, options: EngineOptions): DurableSession | undefined {
  if (options.durable === false) return undefined
  if (!capabilitiesOf(adapter).durable) {
    throw new SyncConfigError(
      'durable',
      `Option "durable" needs an adapter that keeps messages; the ${adapter.type} adapter does not (see docs/delivery-guarantees.md)`
    )
  }
  return new DurableSession(adapter as Adapter & DurableLog, options.durable, options.key)
}
