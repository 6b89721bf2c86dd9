/** What the soak run (scripts/soak/run.ts) and its instances (scripts/soak/instance.ts) say over IPC. */
import type { SyncOptions } from '../../src/index'

export const CONFIG_ENV = 'FANOUT_SOAK_INSTANCE'

/** Handed to an instance in the environment variable CONFIG_ENV. */
export interface SoakConfig {
  index: number
  sync: SyncOptions
  /** Events this instance creates in all. */
  share: number
}

/** What an instance reports each time it is given credit. */
export interface SoakProgress {
  sent: number
  /** Per sender index: events received in order, numbers skipped, and copies seen again. */
  received: Record<number, { count: number; gaps: number; duplicates: number }>
  statusChanges: number
  /** `sync-gap` events (durable mode). */
  syncGaps: number
  /** The core's drops by reason, own echoes aside (only reasons that occurred). */
  droppedBy: Record<string, number>
  /** Messages the core dropped, own echoes aside. */
  dropped: number
  publishErrors: number
}

/** `allow`: create events up to number `upTo`; `memory`: full GC, then memoryUsage(); `close`: teardown. */
export type SoakAsk = { cmd: 'allow'; upTo: number } | { cmd: 'memory' } | { cmd: 'close' }
export type SoakCommand = SoakAsk & { id: number }
