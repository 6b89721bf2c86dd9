import type { Payload } from '../protocol/serializers'
import { sizeOf } from './outbox'

/**
 * A message the driver took but then failed on a lost connection. `seq` is its send sequence (its
 * message id in durable mode); `part` the place of an event taken out of a durable frame the broker
 * refused as too large, which then travels alone under an id of its own.
 */
export interface Resend {
  seq: number
  part?: number
  payload: Payload
}

/**
 * What is sent again first after a reconnect, before the outbox, in the order it was first sent. Drivers
 * reject a batch of publishes in any order, so the list is sorted once, when it is taken.
 */
export class ResendList {
  private items: Resend[] = []
  private sorted = true
  private bytes = 0

  get size(): number {
    return this.items.length
  }

  /** Encoded bytes held. */
  get byteSize(): number {
    return this.bytes
  }

  add(seq: number, payload: Payload, part?: number): void {
    const { items } = this
    if (items.length > 0 && items[items.length - 1].seq > seq) this.sorted = false
    items.push(part === undefined ? { seq, payload } : { seq, part, payload })
    this.bytes += sizeOf(payload)
  }

  /**
   * Hands each entry, oldest first, to `send` while `more()` holds; what is left stays. An entry `send`
   * adds back (it failed at once) goes behind the rest and is sorted next time.
   */
  drain(more: () => boolean, send: (entry: Resend) => void): void {
    if (!this.sorted) this.items.sort((a, b) => a.seq - b.seq || (a.part ?? 0) - (b.part ?? 0))
    this.sorted = true
    let sent = 0
    while (more() && sent < this.items.length) {
      const entry = this.items[sent++]
      this.bytes -= sizeOf(entry.payload)
      send(entry)
    }
    this.items = this.items.slice(sent)
  }

  clear(): void {
    this.items = []
    this.bytes = 0
  }
}
