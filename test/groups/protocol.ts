/** What the group proof's parent and its member processes say to each other over IPC. */
import type { SyncOptions } from '../../src/index'

/** Passed to a member process in its environment. */
export interface MemberConfig {
  /** The broker the app syncs through. */
  uri: string
  /** The Redis where handlers keep their books (the broker's own URI when it is Redis). */
  booksUri: string
  key: string
  /** Index of the member, for messages. */
  index: number
  prefetch: number
  claimAfterMs: number
  /** How long the handler works on each event, in ms (0: one tick), so a kill lands mid-stream. */
  workMs: number
  /** When set, only events numbered below it take `workMs`; the others one tick. */
  workBelow?: number
  /** More sync options (JSON), e.g. `amqpConnectionOptions`. */
  sync?: Partial<SyncOptions>
}

export const MEMBER_ENV = 'FANOUT_GROUP_MEMBER'

/** A member to its parent. */
export type MemberReport =
  /** Joined the group and is ready. */
  | { kind: 'ready'; instanceId: string }
  /** How far its start has come (for the parent's message when it is not ready in time). */
  | { kind: 'stage'; text: string }
  | { kind: 'problem'; text: string }
  /** Its sync status and group stats, in answer to the message 'stats'. */
  | { kind: 'stats'; text: string }

export const isReport = (value: unknown): value is MemberReport =>
  typeof value === 'object' && value !== null && typeof (value as { kind?: unknown }).kind === 'string'
