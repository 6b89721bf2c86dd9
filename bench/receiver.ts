/**
 * Counts what one process receives during a phase: distinct events, duplicates, strays from other
 * phases, the last arrival, and each event's latency. Cheap per event: a bitmap and a typed array.
 */
import { nowUs, type PhaseReport } from './protocol'
import type { BenchRecord } from './workload'

export class Receiver {
  private phase = -1
  private expected = 0
  private doneAfter = 0
  private seen = new Uint8Array(0)
  private latencies = new Float64Array(0)
  private got = 0
  private duplicates = 0
  private stray = 0
  private lastUs = 0
  private notified = false
  private cpuAtStart = process.cpuUsage()

  private missedAtStart = 0
  private problems = new Set<string>()

  /** What the implementation reports about lost messages (see Member.health); nothing by default. */
  health: () => { missed: number; problems: string[] } = () => ({ missed: 0, problems: [] })

  /** `done` is called once, when `doneAfter` distinct events of the phase have arrived. */
  constructor(private readonly done: (phase: number) => void) {}

  /** Starts counting a new phase. */
  expect(phase: number, expected: number, doneAfter: number): void {
    this.phase = phase
    this.expected = expected
    this.doneAfter = doneAfter
    this.seen = new Uint8Array(expected)
    this.latencies = new Float64Array(expected)
    this.got = 0
    this.duplicates = 0
    this.stray = 0
    this.lastUs = 0
    this.notified = false
    this.cpuAtStart = process.cpuUsage()
    this.missedAtStart = this.health().missed
    this.problems.clear()
  }

  /** Records one event as it reaches a listener. */
  readonly receive = (record: BenchRecord): void => {
    const at = nowUs()
    if (record?.phase !== this.phase || !(record.seq >= 0 && record.seq < this.expected)) {
      this.stray++
      return
    }
    if (this.seen[record.seq] === 1) {
      this.duplicates++
      return
    }
    this.seen[record.seq] = 1
    this.latencies[this.got++] = at - record.sentAt
    this.lastUs = at
    if (!this.notified && this.got >= this.doneAfter) {
      this.notified = true
      this.done(this.phase)
    }
  }

  report(withLatencies: boolean): PhaseReport {
    const memory = process.memoryUsage()
    const cpu = process.cpuUsage(this.cpuAtStart)
    const { missed, problems } = this.health()
    // Masked like the error-storm limiter does, so repeats with other numbers count once.
    for (const problem of problems) this.problems.add(problem.replace(/\d+/g, '#'))
    return {
      phase: this.phase,
      expected: this.expected,
      got: this.got,
      duplicates: this.duplicates,
      stray: this.stray,
      lastUs: this.lastUs,
      latenciesUs: withLatencies ? Array.from(this.latencies.subarray(0, this.got)) : [],
      cpuUs: cpu.user + cpu.system,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      missed: missed - this.missedAtStart,
      problems: [...this.problems]
    }
  }
}
