/**
 * The figures of a fault-suite run, one JSON file per target, written when FANOUT_FIGURES names a
 * directory (`FANOUT_FIGURES=scripts/results/faults npx jest test/faults`). scripts/reliability.ts
 * renders them into docs/reliability.md.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { Loss } from './accounting'
import type { DurableFigures } from './durable'

export interface ScenarioFigures {
  id: string
  title: string
  durationMs: number
  /** Events created by the instances alive at the end. */
  sent: number
  /** Deliveries owed: each event to every other instance. */
  expected: number
  delivered: number
  lost: Loss
  /** Events emitted while their sender was not ready (they waited in its outbox), and their deliveries. */
  queued: { events: number; expected: number; delivered: number }
  /** Messages handed to the broker client more than once (requeued after a lost connection). */
  resent: number
  /** Copies the receivers' cores recognised and dropped (`dropped.duplicate`). */
  duplicatesDropped: number
  /** Events some listener saw twice (must be 0). */
  duplicatesSeen: number
  outboxOverflow: number
  reconnects: number
  /** From the end of the fault until every instance was ready again, in ms. */
  recoveryMs: number | null
  /** The hold after a reconnect in effect. */
  resumeDelayMs: number
  /** When the messages lost in flight had been handed over: [earliest, latest] ms from the fault's start. */
  inFlightHandedMs: [number, number] | null
  /** `sync-error` events reported by the instances during the scenario, by code. */
  errors: Record<string, number>
  garbage?: Record<string, number>
  burst?: { perInstance: number; drainedMs: number; eventsPerSecond: number }
  /** The killed instance: what it had created when last asked, and what each other instance got of it. */
  killed?: { knownSent: number; deliveredPerReceiver: number[]; lostTail: number[] }
  listenersStable: boolean
  /** Sockets still open beyond each instance's start count once the last events were in (all instances). */
  socketsLeft: number
  /** When some were left: how long until every instance was back to its start count. */
  socketsSettledMs: number | null
  /** Durable mode only. */
  durable?: DurableFigures
}

export interface TargetFigures {
  target: string
  broker: string
  node: string
  date: string
  instances: number
  rateHz: number
  /** Whether the instances ran in durable mode. */
  durable?: boolean
  outboxMaxMessages: number
  scenarios: ScenarioFigures[]
}

/** Writes `<dir>/<target>.json` if FANOUT_FIGURES is set; one file per target, so parallel files never clash. */
export function writeFigures(figures: TargetFigures): string | undefined {
  const dir = process.env.FANOUT_FIGURES
  if (!dir || figures.scenarios.length === 0) return undefined
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, `${figures.target}.json`)
  fs.writeFileSync(file, `${JSON.stringify(figures, null, 2)}\n`)
  return file
}
