import type { SyncStatusEvent } from '../../src/index'
import { barrier, uniqueKey, waitFor, type TestApp } from './apps'

/** A fleet whose status changes are recorded from now on, for tests that break a subscription. */
export interface WatchedFleet {
  members: TestApp[]
  /** Per instance, every status it went to since watch(), in order. */
  statuses: string[][]
  /** Per instance, `stats().reconnects` when watch() was called. */
  reconnects: number[]
}

export function watch(members: TestApp[]): WatchedFleet {
  const statuses = members.map(({ app }) => {
    const seen: string[] = []
    app.on('sync-status', ({ status }: SyncStatusEvent) => seen.push(status))
    return seen
  })
  return { members, statuses, reconnects: members.map(({ app }) => app.sync.stats().reconnects) }
}

/** One line per instance: status, the way it went there, counters and errors, for failure messages. */
export const describeFleet = ({ members, statuses }: WatchedFleet): string =>
  members
    .map(({ app, errors }, i) => {
      const { reconnects, received, delivered, publishErrors, outbox } = app.sync.stats()
      const counters = `reconnects ${reconnects}, received ${received}, delivered ${delivered}, publishErrors ${publishErrors}, outbox ${outbox.messages}`
      const went = statuses[i].join(' > ') || 'nowhere'
      return `instance ${i}: status ${app.sync.status} (went ${went}), ${counters}, errors [${errors.map((e) => e.message).join(' | ')}]`
    })
    .join('\n')

/** waitFor, failing with the state of every instance. */
export async function waitForFleet(
  fleet: WatchedFleet,
  what: string,
  check: () => boolean,
  timeoutMs: number
): Promise<void> {
  try {
    await waitFor(what, check, timeoutMs)
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${describeFleet(fleet)}`)
  }
}

/** Each instance sends one event; then every instance has each of them exactly once. */
export async function deliversEachOnce({ members }: WatchedFleet): Promise<void> {
  const markers = members.map((_, i) => uniqueKey(`after-${i}`))
  for (const [i, member] of members.entries()) {
    await member.app.service('todos').create({ marker: markers[i] })
  }
  for (const member of members) await barrier(members, member)
  for (const [i, member] of members.entries()) {
    const counts = markers.map((marker) => member.seen('created', marker).length)
    expect({ instance: i, counts }).toEqual({ instance: i, counts: markers.map(() => 1) })
  }
}
