import type { GroupMembership, GroupMessage, GroupOptions, Payload } from '../../src/adapter'

interface Member {
  readonly name: string
  readonly options: GroupOptions
  readonly held: Set<number>
  readonly onMessage: (message: GroupMessage) => void
}

interface Pending {
  /** Who holds it; undefined while it waits for a member (after a nack or its member left). */
  member: Member | undefined
  deliveries: number
  /** When it may be handed out again, in ms since the epoch (while `member` is undefined). */
  availableAt: number
}

/** What a group reads from its log. */
export interface GroupSource {
  /** The entry numbered `seq`, undefined once trimmed. */
  entry(seq: number): Payload | undefined
  /** The first number still held, and the last number given. */
  bounds(): { first: number; last: number }
  /** Whether deliveries may flow (the bus is online). */
  active(): boolean
}

/**
 * One consumer group over an in-process log: a cursor (the next number never handed out), what is
 * pending and with whom, and members taking turns. Each message goes to one member at a time, at most
 * `prefetch` unacknowledged per member; what a member holds when it leaves goes to another after
 * `claimAfterMs`, and a nacked message after its delay.
 */
export class MemoryGroup {
  private next: number
  private readonly pending = new Map<number, Pending>()
  private readonly members: Member[] = []
  private turn = 0
  private timer: NodeJS.Timeout | undefined
  private timerAt = Infinity

  constructor(
    readonly name: string,
    private readonly source: GroupSource
  ) {
    this.next = source.bounds().last + 1
  }

  join(name: string, options: GroupOptions, onMessage: (message: GroupMessage) => void): GroupMembership {
    const member: Member = { name, options, held: new Set(), onMessage }
    this.members.push(member)
    queueMicrotask(() => this.dispatch())
    return {
      leave: async () => this.leave(member),
      lag: async () => Math.max(0, this.source.bounds().last - this.next + 1)
    }
  }

  /** Hands out what can go now: due pending messages first (oldest first), then new ones. */
  dispatch(now = Date.now()): void {
    if (!this.source.active()) return
    let soonest = Infinity
    for (const [seq, pending] of this.pending) {
      if (pending.member !== undefined) continue
      if (this.source.entry(seq) === undefined) {
        this.pending.delete(seq)
        continue
      }
      if (pending.availableAt > now) {
        soonest = Math.min(soonest, pending.availableAt)
        continue
      }
      const member = this.freeMember()
      if (!member) return
      this.hand(member, seq, pending)
    }
    this.next = Math.max(this.next, this.source.bounds().first)
    // Bounded by the entries held: each turn hands one out (or skips a trimmed one) and moves the cursor on.
    while (this.next <= this.source.bounds().last) {
      if (this.source.entry(this.next) === undefined) {
        this.next++
        continue
      }
      const member = this.freeMember()
      if (!member) break
      const seq = this.next++
      const pending: Pending = { member: undefined, deliveries: 0, availableAt: 0 }
      this.pending.set(seq, pending)
      this.hand(member, seq, pending)
    }
    this.schedule(soonest, now)
  }

  close(): void {
    clearTimeout(this.timer)
  }

  private leave(member: Member): void {
    const index = this.members.indexOf(member)
    if (index < 0) return
    this.members.splice(index, 1)
    // Like a member that went silent: what it holds is claimed after claimAfterMs.
    const availableAt = Date.now() + member.options.claimAfterMs
    for (const seq of member.held) this.release(seq, availableAt)
    member.held.clear()
    this.dispatch()
  }

  /** The next member, in turn, with room for one more message. */
  private freeMember(): Member | undefined {
    for (let i = 0; i < this.members.length; i++) {
      const member = this.members[(this.turn + i) % this.members.length]
      if (member.held.size < member.options.prefetch) {
        this.turn = (this.turn + i + 1) % this.members.length
        return member
      }
    }
    return undefined
  }

  private hand(member: Member, seq: number, pending: Pending): void {
    const payload = this.source.entry(seq) as Payload
    pending.member = member
    pending.deliveries++
    member.held.add(seq)
    const message: GroupMessage = {
      payload,
      position: String(seq),
      deliveries: pending.deliveries,
      ack: async () => {
        this.pending.get(seq)?.member?.held.delete(seq)
        this.pending.delete(seq)
        queueMicrotask(() => this.dispatch())
      },
      nack: async (delayMs) => {
        if (this.pending.get(seq)?.member !== member) return
        member.held.delete(seq)
        this.release(seq, Date.now() + delayMs)
        queueMicrotask(() => this.dispatch())
      }
    }
    queueMicrotask(() => member.onMessage(message))
  }

  private release(seq: number, availableAt: number): void {
    const pending = this.pending.get(seq)
    if (!pending) return
    pending.member = undefined
    pending.availableAt = availableAt
    this.schedule(availableAt, Date.now())
  }

  /** Wakes the group at `at` unless an earlier wake-up is set already. */
  private schedule(at: number, now: number): void {
    if (at >= this.timerAt) return
    clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(
      () => {
        this.timerAt = Infinity
        this.dispatch()
      },
      Math.max(0, at - now)
    )
    this.timer.unref()
  }
}
