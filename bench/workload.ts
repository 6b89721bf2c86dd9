/**
 * The publisher's side of a measurement: builds the events and sends them, either as a burst (as fast
 * as the implementation takes them) or at a fixed rate. Every loop is bounded by its event count.
 */
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises'
import { nowUs, type SendResult } from './protocol'

/** The event data every implementation carries; `text` pads it to the payload size. */
export interface BenchRecord {
  phase: number
  seq: number
  /** Send time, microseconds on the shared monotonic clock. */
  sentAt: number
  text: string
  /** Added by the service (or, for the bare clients, by the publisher, as a service would). */
  id?: number
}

/** Sends one event; may return a promise (a Feathers `create`) whose rejection counts as an error. */
export type Send = (record: BenchRecord) => unknown

// Sends per turn of the event loop during a burst: the process keeps reading its sockets (echoes,
// confirms) between chunks, as a server handling a stream of requests would.
const CHUNK = 100

const paddings = new Map<number, string>()

/** Padding that makes the record, with a service id, about `size` bytes of JSON. */
function padding(size: number): string {
  let pad = paddings.get(size)
  if (pad === undefined) {
    const sample: BenchRecord = { phase: 1000, seq: 10_000, sentAt: nowUs(), text: '', id: 100_000 }
    pad = 'x'.repeat(Math.max(0, size - JSON.stringify(sample).length))
    paddings.set(size, pad)
  }
  return pad
}

export const makeRecord = (phase: number, seq: number, size: number): BenchRecord => ({
  phase,
  seq,
  sentAt: nowUs(),
  text: padding(size)
})

function sendCounted(send: Send, record: BenchRecord, result: SendResult): void {
  try {
    const sent = send(record)
    if (sent instanceof Promise) sent.catch(() => result.errors++)
  } catch {
    result.errors++
  }
}

/** Sends `count` events as fast as the implementation takes them. */
export async function burst(send: Send, phase: number, count: number, size: number): Promise<SendResult> {
  const result: SendResult = { startUs: nowUs(), endUs: 0, errors: 0 }
  for (let seq = 0; seq < count; seq++) {
    sendCounted(send, makeRecord(phase, seq, size), result)
    if (seq % CHUNK === CHUNK - 1) await yieldToLoop()
  }
  result.endUs = nowUs()
  return result
}

/** Sends `count` events at `perSecond`, on schedule: a late timer sends what is due at once. */
export async function atRate(
  send: Send,
  phase: number,
  count: number,
  perSecond: number,
  size: number
): Promise<SendResult> {
  const result: SendResult = { startUs: nowUs(), endUs: 0, errors: 0 }
  let seq = 0
  while (seq < count) {
    const due = Math.min(count, Math.floor(((nowUs() - result.startUs) * perSecond) / 1e6) + 1)
    while (seq < due) sendCounted(send, makeRecord(phase, seq++, size), result)
    if (seq < count) await sleep(1)
  }
  result.endUs = nowUs()
  return result
}
