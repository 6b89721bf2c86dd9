/**
 * What an instance tells the dashboard: every `messages created` event it emits (its own and the
 * synced ones, with how long they took to get here), and every TICK_MS its sync status, its
 * `app.sync.stats()` and the latency of the events from other instances during that tick.
 */
import { performance } from 'node:perf_hooks'
import type { Application } from '@feathersjs/koa'
import type { SyncStats, SyncStatus } from '../src/index'
import type { InstanceInfo, Message } from './app'

/** One `created` event as this instance emitted it. */
export interface Arrival {
  id: number
  text: string
  /** The instance that created it. */
  from: number
  local: boolean
  createdAt: number
  /** From `createdAt` to this instance's event, in ms; 0 for a local event. */
  latencyMs: number
}

/** Sent to every dashboard socket as `demo:tick`. */
export interface Tick {
  info: InstanceInfo
  status: SyncStatus
  stats: SyncStats
  /** The outbox's limit in messages (the library's default, which the demo keeps). */
  outboxMax: number
  /** Latency of remote events that arrived during this tick, in ms; null when none did. */
  latency: { at: number; p50: number | null; p99: number | null; count: number }
  /** Events emitted since the last tick, the newest last (at most MAX_ARRIVALS_PER_TICK). */
  arrivals: Arrival[]
  /** Events of this tick left out of `arrivals` (during a burst). */
  skipped: number
}

export const TICK_MS = 500
const HISTORY = 100
const MAX_ARRIVALS_PER_TICK = 50
const OUTBOX_MAX_MESSAGES = 10_000

const percentile = (sorted: number[], p: number): number | null =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]

const round = (ms: number | null): number | null => (ms === null ? null : Math.round(ms * 100) / 100)

/** Watches the `messages` service of `app` and hands each tick to `emit`. */
export class Monitor {
  private readonly history: Arrival[] = []
  private pending: Arrival[] = []
  private skipped = 0
  private latencies: number[] = []
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly app: Application,
    private readonly instance: number,
    private readonly info: () => Promise<InstanceInfo>,
    private readonly emit: (tick: Tick) => void
  ) {
    app.service('messages').on('created', (message: Message) => this.record(message))
  }

  /** The last events this instance emitted, the newest last, for a page that just opened. */
  recent(): Arrival[] {
    return [...this.history]
  }

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), TICK_MS)
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private record(message: Message): void {
    const local = message.instance === this.instance
    const latencyMs = local ? 0 : Math.max(0, performance.timeOrigin + performance.now() - message.createdAt)
    if (!local) this.latencies.push(latencyMs)
    const { id, text, instance: from, createdAt } = message
    const arrival: Arrival = { id, text, from, local, createdAt, latencyMs: round(latencyMs) ?? 0 }
    this.history.push(arrival)
    if (this.history.length > HISTORY) this.history.shift()
    this.pending.push(arrival)
    if (this.pending.length > MAX_ARRIVALS_PER_TICK) {
      this.pending.shift()
      this.skipped++
    }
  }

  private async tick(): Promise<void> {
    const sorted = this.latencies.sort((a, b) => a - b)
    const tick: Tick = {
      info: await this.info(),
      status: this.app.sync.status,
      stats: this.app.sync.stats(),
      outboxMax: OUTBOX_MAX_MESSAGES,
      latency: {
        at: Date.now(),
        p50: round(percentile(sorted, 50)),
        p99: round(percentile(sorted, 99)),
        count: sorted.length
      },
      arrivals: this.pending,
      skipped: this.skipped
    }
    this.latencies = []
    this.pending = []
    this.skipped = 0
    this.emit(tick)
  }
}
