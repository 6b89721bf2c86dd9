import type { SyncStats } from '../../src/index'
import { waitFor, type TestApp } from './apps'

/** The counters worth reading in a failure message: totals, drops that happened, outbox, errors. */
export function describeStats(stats: SyncStats): string {
  const { dropped, outbox, gaps, errors, ...totals } = stats
  const parts = Object.entries(totals).map(([name, value]) => `${name} ${value}`)
  const drops = Object.entries(dropped).filter(([, count]) => count > 0)
  if (drops.length > 0) parts.push(`dropped {${drops.map(([reason, n]) => `${reason} ${n}`).join(', ')}}`)
  parts.push(`outbox ${outbox.messages} msg / ${outbox.bytes} B`)
  if (gaps.reported > 0) parts.push(`gaps ${gaps.reported} (${gaps.missing} missing)`)
  parts.push(`errors ${errors.raised}`)
  return parts.join(', ')
}

/** One line per instance: its name, status, counters and last error; for a failing test's message. */
export function fleetState(members: TestApp[], names?: string[]): string {
  return members
    .map((member, index) => {
      const { app, errors } = member
      const name = names?.[index] ?? `instance ${index}`
      const last = errors.at(-1)
      return (
        `  ${name} (${app.sync.instanceId}): ${app.sync.status}; ${describeStats(app.sync.stats())}` +
        (last ? `; last error: ${last.message}` : '')
      )
    })
    .join('\n')
}

/**
 * Waits until `check` holds for every member; on timeout the message names the members that did not,
 * with their status and counters.
 */
export async function untilEvery(
  members: TestApp[],
  what: string,
  check: (member: TestApp) => boolean,
  timeoutMs?: number,
  names?: string[]
): Promise<void> {
  await waitFor(
    () => {
      const failing = members.filter((member) => !check(member))
      const labels = names && failing.map((member) => names[members.indexOf(member)])
      return `${what}; not yet:\n${fleetState(failing, labels ?? failing.map((m) => `instance ${members.indexOf(m)}`))}`
    },
    () => members.every(check),
    timeoutMs
  )
}

/** A `waitFor` description that, on timeout, lists the state of every member of `members()`. */
export const describing = (what: string, members: () => TestApp[], names?: string[]) => (): string =>
  `${what}; instances:\n${fleetState(members(), names)}`
