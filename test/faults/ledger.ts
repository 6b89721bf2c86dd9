/**
 * The books an instance keeps for the fault suite: every event it created (when, in which status, when
 * it was handed to the broker client and with what outcome) and every remote event it received, per
 * scenario. Kept inside the instance so that the figures do not depend on IPC timing.
 */
import fs from 'node:fs'
import type { SyncStatus } from '../../src/index'
import type { Payload } from '../../src/protocol/serializers'
import type { ScenarioReport, SentRecord, StatusChange, Tick } from './protocol'

export class Ledger {
  readonly startedAt = Date.now()
  readonly timeline: StatusChange[] = [{ status: 'connecting', at: this.startedAt }]
  private next = 0
  private scenario = ''
  // Per scenario, the range of this instance's own sequence numbers: [first, end).
  private readonly ranges = new Map<string, [number, number]>()
  private readonly emittedAt: number[] = []
  private readonly statusAtEmit: SyncStatus[] = []
  private readonly handedAt: (number | undefined)[] = []
  private readonly handoffs: number[] = []
  private readonly outcome: SentRecord['outcome'][] = []
  // scenario → sender index → sequence number → times delivered
  private readonly received = new Map<string, Map<number, Map<number, number>>>()
  // scenario → sender index → sequence number → when first delivered
  private readonly firstAt = new Map<string, Map<number, Map<number, number>>>()
  // Journal lines not written yet (see append).
  private unwritten = ''

  constructor(
    private readonly index: number,
    /** Durable mode: where each receipt is appended as `scenario sender n at` (see InstanceConfig). */
    private readonly journal?: number
  ) {}

  /** Events created so far; the next one gets this number. */
  get count(): number {
    return this.next
  }

  begin(scenario: string): void {
    this.scenario = scenario
    this.ranges.set(scenario, [this.next, this.next])
  }

  /** Books a new event and returns its data. */
  emit(status: SyncStatus): Tick {
    const n = this.next++
    this.emittedAt[n] = Date.now()
    this.statusAtEmit[n] = status
    this.handoffs[n] = 0
    this.outcome[n] = 'pending'
    const range = this.ranges.get(this.scenario)
    if (range) range[1] = this.next
    return { f: this.index, n, s: this.scenario }
  }

  /** The sequence number of one of this instance's own messages, or undefined for anything else. */
  ownNumber(payload: Payload): number | undefined {
    try {
      const text = typeof payload === 'string' ? payload : Buffer.from(payload).toString()
      const message = JSON.parse(text) as { path?: string; data?: Partial<Tick> }
      const { f, n } = message.data ?? {}
      return message.path === 'feed' && f === this.index && typeof n === 'number' ? n : undefined
    } catch {
      return undefined
    }
  }

  handOff(n: number): void {
    this.handedAt[n] = Date.now()
    this.handoffs[n]++
    this.outcome[n] = 'pending'
  }

  settle(n: number, ok: boolean): void {
    this.outcome[n] = ok ? 'ok' : 'failed'
  }

  receive(tick: Tick): void {
    const at = Date.now()
    const counts = perSender(this.received, tick)
    const times = (counts.get(tick.n) ?? 0) + 1
    counts.set(tick.n, times)
    if (times === 1) perSender(this.firstAt, tick).set(tick.n, at)
    if (this.journal !== undefined) this.append(`${tick.s} ${tick.f} ${tick.n} ${at}\n`)
  }

  // Receipts of one turn of the event loop go to the journal in one write, in its check phase: before
  // the timers phase in which the app saves its position, so a saved position never runs ahead of the
  // journal (a SIGKILL can only lose lines whose position was not saved either: they come again).
  private append(line: string): void {
    if (this.unwritten === '') setImmediate(() => this.writeJournal())
    this.unwritten += line
  }

  private writeJournal(): void {
    const lines = this.unwritten
    this.unwritten = ''
    if (this.journal !== undefined && lines !== '') fs.writeSync(this.journal, lines)
  }

  /** Distinct events received from each sender in the current scenario, and the highest number. */
  progress(): Record<number, { count: number; last: number }> {
    const progress: Record<number, { count: number; last: number }> = {}
    for (const [sender, counts] of this.received.get(this.scenario) ?? []) {
      let last = -1
      for (const n of counts.keys()) last = Math.max(last, n)
      progress[sender] = { count: counts.size, last }
    }
    return progress
  }

  report(scenario: string): ScenarioReport {
    const [first, end] = this.ranges.get(scenario) ?? [0, 0]
    const sent: SentRecord[] = []
    for (let n = first; n < end; n++) {
      sent.push({
        n,
        emittedAt: this.emittedAt[n],
        statusAtEmit: this.statusAtEmit[n],
        handedAt: this.handedAt[n],
        handoffs: this.handoffs[n],
        outcome: this.outcome[n]
      })
    }
    const received: ScenarioReport['received'] = {}
    const firstAt = this.firstAt.get(scenario)
    for (const [sender, counts] of this.received.get(scenario) ?? []) {
      const at = firstAt?.get(sender)
      received[sender] = [...counts].map(([n, times]) => [n, times, at?.get(n) ?? 0])
    }
    return { index: this.index, sent, received, timeline: this.timeline, startedAt: this.startedAt }
  }
}

function perSender(books: Map<string, Map<number, Map<number, number>>>, tick: Tick): Map<number, number> {
  let bySender = books.get(tick.s)
  if (!bySender) books.set(tick.s, (bySender = new Map()))
  let values = bySender.get(tick.f)
  if (!values) bySender.set(tick.f, (values = new Map()))
  return values
}

/** What a journal file says an instance received in `scenario`: sender → [n, times, first at]. */
export function readJournal(file: string, scenario: string): Map<number, [number, number, number][]> {
  const times = new Map<string, Map<number, Map<number, number>>>()
  const firstAt = new Map<string, Map<number, Map<number, number>>>()
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : ''
  for (const line of text.split('\n')) {
    const [s, f, n, at] = line.split(' ')
    if (s !== scenario || at === undefined) continue
    const tick = { s, f: Number(f), n: Number(n) }
    const counts = perSender(times, tick)
    counts.set(tick.n, (counts.get(tick.n) ?? 0) + 1)
    const first = perSender(firstAt, tick)
    if (!first.has(tick.n)) first.set(tick.n, Number(at))
  }
  const books = new Map<number, [number, number, number][]>()
  for (const [sender, counts] of times.get(scenario) ?? []) {
    const first = firstAt.get(scenario)?.get(sender)
    books.set(
      sender,
      [...counts].map(([n, count]) => [n, count, first?.get(n) ?? 0])
    )
  }
  return books
}
