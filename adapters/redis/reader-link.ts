/** The contract between the durable subscription's reader (./reader.ts) and the adapter that owns it. */
import type { SyncLogResetError, SyncMessageError } from '../../src/errors'
import type { RedisClient } from './clients'
import type { StreamInfo } from './positions'

/** What the reader needs from the log that owns it. */
export interface ReaderLink {
  /** The reader's own connection; it blocks on it, so nothing else may wait behind it. */
  readonly client: RedisClient
  readonly stream: string
  /** `XINFO STREAM` on the reader's connection. */
  info(): Promise<StreamInfo>
  /** A driver error, reported once per kind by the adapter. */
  problem(error: unknown): void
  /** An entry without a payload (written by something else), skipped. */
  badEntry(error: SyncMessageError): void
  /** The stream went missing or back (see ./reset.ts). */
  reset(error: SyncLogResetError): void
  /**
   * Whether publishers store again what a failover lost (a Cluster, see ./confirmed.ts): then a stream
   * cut short behind this reader is not a gap of its own.
   */
  readonly restoresLost: boolean
  /**
   * The stream's count retention (`MAXLEN ~` keeps at least this many). Trimming past the reader leaves
   * at least this many entries after it, so a read returning fewer (and not a full batch) cannot follow
   * a gap, and only a larger one needs checking.
   */
  readonly keeps: number
  /**
   * The adapter's heartbeat. With an interval, each read blocks at most that long on the server and a
   * reply must come within the timeout after it; without one (`intervalMs` 0), reads are not watched.
   */
  readonly heartbeat: { intervalMs: number; timeoutMs: number }
  /** A read got no reply within its bound while the connection looked up: the server may be hung. */
  hung(cause: Error): void
}
