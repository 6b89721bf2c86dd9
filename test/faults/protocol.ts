/**
 * What the fault suite (the parent, a Jest worker) and its app instances (child processes running
 * test/faults/instance.ts) say to each other over IPC. Every message carries `fault`, so that in a
 * cluster worker it never looks like one of the cluster adapter's own frames.
 */
import type { SyncOptions, SyncStats, SyncStatus } from '../../src/index'

/** Handed to an instance in the environment variable CONFIG_ENV. */
export interface InstanceConfig {
  /** Number of this instance in the fleet; its events carry it as `f`. */
  index: number
  /** JSON-safe sync options (the uri picks the adapter). */
  sync: SyncOptions
  /** Steady stream: events per second. */
  rateHz: number
  /**
   * Durable mode: a file where every remote event received is appended as it arrives, written straight
   * to the kernel so that it outlives a SIGKILL; a restarted instance's books are joined to it.
   */
  journal?: string
}

export const CONFIG_ENV = 'FANOUT_FAULT_INSTANCE'

/** The data of every event an instance creates: sender index, sender's sequence number, scenario. */
export interface Tick {
  f: number
  n: number
  s: string
}

/** One event this instance created, and what became of it at the adapter. */
export interface SentRecord {
  n: number
  emittedAt: number
  /** Status of the sender when it emitted the event (not `ready`: it went to the outbox). */
  statusAtEmit: SyncStatus
  /** When it was last handed to the broker client (`undefined`: never). */
  handedAt?: number
  /** How many times it was handed over (more than once: requeued after a lost connection). */
  handoffs: number
  /** Outcome of the last hand-off: the client took it (`ok`), refused it (`failed`), or not yet. */
  outcome: 'ok' | 'failed' | 'pending'
}

/** A status change of an instance, with its time. */
export interface StatusChange {
  status: SyncStatus
  at: number
}

/** Counts of listeners and live handles inside an instance, to spot leaks. */
export interface Probe {
  status: SyncStatus
  /** The hold after a reconnect in effect: the option, or the adapter's default. */
  resumeDelayMs: number
  stats: SyncStats
  /** Next sequence number: how many events this instance has created. */
  next: number
  /** Per sender index, in the current scenario: distinct events received and the highest number. */
  receivedFrom: Record<number, { count: number; last: number }>
  listeners: { app: number; syncOut: number; syncIn: number; service: number; process: number }
  /** `process.getActiveResourcesInfo()` by kind, e.g. `{ TCPSocketWrap: 2, Timeout: 3 }`. */
  handles: Record<string, number>
  /**
   * Each open TCP socket: local and remote port, and its state (`half-closed`: this side ended it and
   * waits for the peer's FIN), so that a failure message says which socket was left and in what state.
   */
  sockets: string[]
  /** `sync-error` events so far, by code. */
  errors: Record<string, number>
  /** The message of the latest `sync-error`, if any. */
  lastError?: string
  /** `sync-gap` events so far (durable mode). */
  gaps: { channel: string; after: string; firstAvailable: string; missing: number | undefined }[]
  /** Uncaught exceptions and unhandled rejections seen by the process. */
  problems: string[]
}

/** What an instance reports about one scenario. */
export interface ScenarioReport {
  index: number
  /** Events this instance created during the scenario, in order. */
  sent: SentRecord[]
  /**
   * received[sender index] = [n, times delivered, first delivered at] for that sender's events of the
   * scenario.
   */
  received: Record<number, [number, number, number][]>
  timeline: StatusChange[]
  startedAt: number
  /**
   * Owed every event of the scenario, whenever it joined: set by the suite for a durable instance
   * restarted under its name (its books joined to its predecessor's journal). By default an instance
   * is owed what was sent once it was first ready.
   */
  owedFromStart?: boolean
}

export type Command =
  | { cmd: 'begin'; scenario: string }
  | { cmd: 'stream'; on: boolean }
  | { cmd: 'burst'; count: number }
  | { cmd: 'probe' }
  | { cmd: 'report'; scenario: string }
  | { cmd: 'raw'; key: string; payloads: string[] }
  | { cmd: 'close' }

export type ParentMessage = { fault: 'cmd'; id: number } & Command

export type ChildMessage =
  | { fault: 'started'; ready: boolean; error?: string }
  | { fault: 'reply'; id: number; value?: unknown; error?: string }

export const isChildMessage = (message: unknown): message is ChildMessage =>
  typeof message === 'object' && message !== null && 'fault' in message
