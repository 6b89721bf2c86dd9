/**
 * Remembers the last `capacity` message keys so a message delivered twice (a broker
 * redelivery, a doubled subscription after a reconnect) is emitted once.
 */
export class RecentKeys {
  private readonly keys = new Set<string>()
  private readonly ring: (string | undefined)[]
  private next = 0

  constructor(private readonly capacity: number) {
    this.ring = new Array<string | undefined>(capacity)
  }

  /** Records `key`; returns false when it was seen already. */
  add(key: string): boolean {
    if (this.keys.has(key)) return false
    const evicted = this.ring[this.next]
    if (evicted !== undefined) this.keys.delete(evicted)
    this.ring[this.next] = key
    this.next = (this.next + 1) % this.capacity
    this.keys.add(key)
    return true
  }
}
