import type { Payload, Position } from '../adapter'

/** A message a consumer group gave up on, kept so the app can inspect and replay it. */
export interface DeadLetter {
  /** The consumer group. */
  group: string
  /** Stable id: the message's idempotency key (`<sender>:<message id>`). Pass it to `replay`. */
  id: string
  /** Service path and event of the message. */
  path: string
  event: string
  /** The event's data, as it travelled. */
  data: unknown
  /** Its position in the channel's log. */
  position: Position | undefined
  /** How many times the handler ran on it. */
  attempts: number
  /** The last failure (a handler's error, or the timeout). */
  error: Error
  /** When it was dead-lettered, in ms since the epoch. */
  at: number
}

/** A dead letter with what replaying it needs. */
export interface KeptLetter extends DeadLetter {
  readonly payload: Payload
}

/** The dead letters of one group in process: insertion order, bounded, oldest dropped first. */
export class DeadLetterList {
  private readonly letters = new Map<string, KeptLetter>()

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.letters.size
  }

  add(letter: KeptLetter): void {
    this.letters.delete(letter.id)
    if (this.limit === 0) return
    this.letters.set(letter.id, letter)
    // Bounded: one removal per insertion keeps the size at the limit.
    if (this.letters.size > this.limit) this.letters.delete(this.letters.keys().next().value as string)
  }

  get(id: string): KeptLetter | undefined {
    return this.letters.get(id)
  }

  remove(id: string): void {
    this.letters.delete(id)
  }

  /** Copies without the raw payload, oldest first. */
  list(): DeadLetter[] {
    return [...this.letters.values()].map(({ payload: _payload, ...letter }) => letter)
  }
}
