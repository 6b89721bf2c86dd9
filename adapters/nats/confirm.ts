interface Entry {
  seq: number
  resolve(): void
  reject(cause: Error): void
}

/**
 * Holds published messages until the server has confirmed them. Core NATS has no per-message ack,
 * but a flush (PING/PONG) that returns proves the server processed every earlier PUB on that
 * connection. One flush covers every message published in the same tick, so a burst costs one PING.
 *
 * Why: the client writes into a socket that may already be dead, and throws away its own buffer on
 * the next reconnect attempt. Without this, messages published in the seconds before a lost
 * connection is noticed would vanish; with it they go back to the core's outbox and are sent again
 * (receivers drop the rare copy that did arrive, by sender and id).
 */
export class Confirmations {
  private pending: Entry[] = []
  private seq = 0
  private scheduled = false

  /** `flush` must resolve once the server answered; `lost` is told when a flush failed. */
  constructor(
    private readonly flush: () => Promise<void>,
    private readonly lost: (cause: Error) => void
  ) {}

  /** Messages published but not yet confirmed. */
  get size(): number {
    return this.pending.length
  }

  /** Call right after a publish: resolves once the server has processed it. */
  track(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ seq: ++this.seq, resolve, reject })
      if (this.scheduled) return
      this.scheduled = true
      queueMicrotask(() => this.confirmUpTo(this.seq))
    })
  }

  private confirmUpTo(mark: number): void {
    this.scheduled = false
    this.flush().then(
      () => {
        // Entries are in publish order: the confirmed ones are a prefix.
        let count = 0
        while (count < this.pending.length && this.pending[count].seq <= mark) count++
        for (const entry of this.pending.splice(0, count)) entry.resolve()
      },
      (cause: unknown) => this.lost(cause instanceof Error ? cause : new Error(String(cause)))
    )
  }

  /**
   * The connection was lost: every unconfirmed message fails, newest first. Why that order: the core
   * puts each failed message back at the front of its outbox, so the oldest must go back last.
   */
  failAll(cause: Error): void {
    const failed = this.pending
    this.pending = []
    for (let i = failed.length - 1; i >= 0; i--) failed[i].reject(cause)
  }
}
