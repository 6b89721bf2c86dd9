import type { Payload } from '../protocol/serializers'

/** Limits of the queue that holds messages while the broker is unreachable. */
export interface OutboxOptions {
  /** Most messages held; the oldest is dropped past it. @default 10_000 */
  maxMessages?: number
  /** Most bytes held (encoded size); the oldest are dropped past it. @default 16 MiB */
  maxBytes?: number
}

/** Every option of `OutboxOptions`; a missing or extra name does not compile. */
export const OUTBOX_OPTION_KEYS = { maxMessages: true, maxBytes: true } satisfies Record<
  keyof OutboxOptions,
  true
>

export const OUTBOX_DEFAULTS: Required<OutboxOptions> = { maxMessages: 10_000, maxBytes: 16 * 1024 * 1024 }

export const sizeOf = (payload: Payload): number =>
  typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength

/**
 * A first-in first-out queue bounded in messages and bytes. `push` returns how many of the
 * oldest messages it had to drop to make room, so the caller can count and report them.
 */
export class Outbox {
  private items: Payload[] = []
  private head = 0
  private bytes = 0

  constructor(private readonly limits: Required<OutboxOptions>) {}

  get size(): number {
    return this.items.length - this.head
  }

  get byteSize(): number {
    return this.bytes
  }

  push(payload: Payload): number {
    const size = sizeOf(payload)
    let dropped = 0
    if (size > this.limits.maxBytes) return 1
    this.items.push(payload)
    this.bytes += size
    while (this.size > this.limits.maxMessages || this.bytes > this.limits.maxBytes) {
      this.shift()
      dropped++
    }
    return dropped
  }

  shift(): Payload | undefined {
    if (this.size === 0) return undefined
    const payload = this.items[this.head]
    this.items[this.head++] = ''
    this.bytes -= sizeOf(payload)
    // Compact now and then so a long outage does not keep a long dead prefix.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return payload
  }
}
