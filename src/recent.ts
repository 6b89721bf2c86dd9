const WINDOW = 8192
const MAX_SENDERS = 10_000

interface Window {
  highest: number
  /** Bit `n % WINDOW` is set when message `n` was seen, for the last WINDOW numbers. */
  bits: Uint8Array
}

/**
 * Remembers, per sender, which of its recent message numbers arrived, so a message delivered twice
 * (a broker redelivery, a resend after a reconnect, a doubled subscription) is emitted once. A sliding
 * bitmap per sender, as in IPsec's anti-replay window: O(1) per message, 1 KiB per sender, and other
 * senders' traffic cannot push a sender's numbers out.
 */
export class SeenMessages {
  private readonly senders = new Map<string, Window>()
  // The sender heard last, already at the end of the map's order: its messages usually come in runs,
  // and moving it (a delete and a set, leaving tombstones to compact) cost more than the rest of add().
  private latest: string | undefined

  /** Records message `id` of `sender`; returns false when it was seen already or is older than the window. */
  add(sender: string, id: number): boolean {
    let window = this.senders.get(sender)
    if (window) {
      // Least recently heard senders are forgotten first.
      if (sender !== this.latest) {
        this.senders.delete(sender)
        this.senders.set(sender, window)
      }
    } else {
      if (this.senders.size >= MAX_SENDERS) this.senders.delete(this.senders.keys().next().value as string)
      window = { highest: id - 1, bits: new Uint8Array(WINDOW / 8) }
      this.senders.set(sender, window)
    }
    this.latest = sender
    if (id > window.highest) {
      const gap = id - window.highest
      if (gap >= WINDOW) window.bits.fill(0)
      // Counted, not compared: from 2^53 on `n + 1 === n`, and `n < id` would never end.
      else for (let k = 1; k < gap; k++) clear(window.bits, window.highest + k)
      window.highest = id
      set(window.bits, id)
      return true
    }
    if (id <= window.highest - WINDOW || isSet(window.bits, id)) return false
    set(window.bits, id)
    return true
  }
}

// Bit n % WINDOW of the bitmap stands for message n.
const set = (bits: Uint8Array, n: number): void => {
  bits[(n % WINDOW) >> 3] |= 1 << (n & 7)
}
const clear = (bits: Uint8Array, n: number): void => {
  bits[(n % WINDOW) >> 3] &= ~(1 << (n & 7))
}
const isSet = (bits: Uint8Array, n: number): boolean => (bits[(n % WINDOW) >> 3] & (1 << (n & 7))) !== 0
