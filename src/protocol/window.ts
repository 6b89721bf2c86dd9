const DEFAULT_SIZE = 8192
const MAX_SENDERS = 10_000

interface Entry {
  highest: number
  /** Bit `n % size` is set when message `n` was seen, for the last `size` numbers. */
  bits: Uint8Array
  usedAt: number
}

/** Options of a {@link SequenceWindow}. */
export interface SequenceWindowOptions {
  /** Message numbers remembered per sender; a multiple of 8. @default 8192 */
  size?: number
  /**
   * Forget a sender heard nothing from for this long (ms). Only safe where anything older is refused
   * anyway (signed messages with a freshness limit). @default Infinity (forgotten only past 10,000 senders)
   */
  idleMs?: number
}

/**
 * Remembers, per sender, which of its recent message numbers arrived: the one filter for duplicates (a
 * broker redelivery, a resend after a reconnect, a doubled subscription) and for replays of signed
 * frames. A sliding bitmap per sender, as in IPsec's anti-replay window: O(1) per message, 1 KiB per
 * sender at the default size, and other senders' traffic cannot push a sender's numbers out.
 */
export class SequenceWindow {
  private readonly senders = new Map<string, Entry>()
  private readonly size: number
  private readonly idleMs: number
  // The sender heard last, already at the end of the map's order: its messages usually come in runs,
  // and moving it (a delete and a set, leaving tombstones to compact) cost more than the rest of add().
  private latest: string | undefined
  /**
   * How many of the sender's numbers the last accepted {@link add} jumped over: numbers never seen that
   * are older than it. 0 for the first number heard from a sender, and for one filling an earlier hole.
   */
  skipped = 0

  constructor(options: SequenceWindowOptions = {}) {
    this.size = options.size ?? DEFAULT_SIZE
    this.idleMs = options.idleMs ?? Infinity
  }

  /** Records message `id` of `sender`; false when it was seen already or is older than the window. */
  add(sender: string, id: number, now = 0): boolean {
    let entry = this.senders.get(sender)
    if (entry) {
      // Least recently heard senders are forgotten first.
      if (sender !== this.latest) {
        this.senders.delete(sender)
        this.senders.set(sender, entry)
      }
    } else {
      this.forget(now)
      entry = { highest: id - 1, bits: new Uint8Array(this.size / 8), usedAt: now }
      this.senders.set(sender, entry)
    }
    this.latest = sender
    entry.usedAt = now
    this.skipped = 0
    const { size } = this
    if (id > entry.highest) {
      const gap = id - entry.highest
      this.skipped = gap - 1
      if (gap >= size) entry.bits.fill(0)
      // Counted, not compared: from 2^53 on `n + 1 === n`, and `n < id` would never end.
      else for (let k = 1; k < gap; k++) clear(entry.bits, entry.highest + k, size)
      entry.highest = id
      set(entry.bits, id, size)
      return true
    }
    if (id <= entry.highest - size || isSet(entry.bits, id, size)) return false
    set(entry.bits, id, size)
    return true
  }

  /** Drops senders idle for `idleMs` (instances that restarted or left), and the oldest when full. */
  private forget(now: number): void {
    for (const [sender, entry] of this.senders) {
      if (this.senders.size < MAX_SENDERS && now - entry.usedAt <= this.idleMs) return
      this.senders.delete(sender)
      if (sender === this.latest) this.latest = undefined
    }
  }
}

// Bit n % size of the bitmap stands for message n.
const set = (bits: Uint8Array, n: number, size: number): void => {
  bits[(n % size) >> 3] |= 1 << (n & 7)
}
const clear = (bits: Uint8Array, n: number, size: number): void => {
  bits[(n % size) >> 3] &= ~(1 << (n & 7))
}
const isSet = (bits: Uint8Array, n: number, size: number): boolean =>
  (bits[(n % size) >> 3] & (1 << (n & 7))) !== 0
