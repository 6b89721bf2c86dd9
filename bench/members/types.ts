import type { ChildConfig } from '../protocol'
import type { BenchRecord, Send } from '../workload'

/** One app instance (or bare client) as the benchmark drives it. */
export interface Member {
  /** Publishes one event: through the service for Feathers, straight to the client for bare. */
  send: Send
  /** Whether the publisher's own listeners see its events (Feathers apps do; a bare client has none). */
  readonly local: boolean
  /**
   * What the implementation itself says about lost messages: missed so far and each `sync-error`
   * message (feathers-fanout); absent where it says nothing (bare clients, feathers-sync).
   */
  readonly health?: () => { missed: number; problems: string[] }
}

/**
 * Connects, subscribes and resolves once the member can publish and receive. `onRecord` hears every
 * event the member's listeners see: remote ones, and on the publisher its own (local) ones.
 */
export type MemberFactory = (config: ChildConfig, onRecord: (record: BenchRecord) => void) => Promise<Member>
