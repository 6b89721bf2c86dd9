/**
 * What a recovering client and the server say to each other over socket.io. Shared by both sides; it
 * imports nothing, so the client bundle carries no server code.
 */

/** Set to `true` in the socket.io handshake's `auth` by a client that will ask for a replay. */
export const HANDSHAKE_FLAG = 'fanoutRecovery'

/** Sent to a recovering client right before each event that has a log position: the position. */
export const POSITION_EVENT = 'fanout:position'

/** Sent by the client once per connection, with an acknowledgement callback: `replay(request, answer)`. */
export const REPLAY_EVENT = 'fanout:replay'

/** What the client asks for. */
export interface ReplayRequest {
  /** The position of the last event it received; absent on a first connection. */
  after?: string
  /** How long (ms, the client's clock) since it last received an event or its connection was opened. */
  awayMs?: number
}

/** Why a replay could not give a client everything it missed. */
export type GapReason =
  /** Retention dropped (part of) what the client missed. */
  | 'trimmed'
  /** More events followed its position than the server replays (`recovery.maxEvents`). */
  | 'tooMany'
  /** It was away longer than the server replays (`recovery.maxAgeMs`). */
  | 'tooOld'
  /** It asked after the server had stopped holding live events for it (`recovery.holdMs`). */
  | 'late'
  /** Its position is not one of this log's. */
  | 'invalid'
  /** The log could not be read (broker away, no durable delivery). */
  | 'unavailable'

/** A client's missed events that it will not get: the app should refetch what it shows. */
export interface RecoveryGap {
  reason: GapReason
  /** The position the client asked to continue after. */
  after: string
  /** Human-readable detail. */
  message: string
}

/** The server's answer, sent after the replayed events and before the live ones that follow them. */
export interface ReplayAnswer {
  /** The position the client is at once it has this answer; absent when the server knows none yet. */
  position?: string
  /** How many events were replayed to it. */
  replayed: number
  /** Set when the client missed events it will not get. */
  gap?: RecoveryGap
}
