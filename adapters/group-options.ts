import type { GroupOptions } from '../src/adapter'
import { SyncConfigError } from '../src/errors'

/** Throws a typed error naming the bad argument of `GroupLog.joinGroup` (the same checks on every broker). */
export function checkGroup(group: unknown, member: unknown, options: GroupOptions): void {
  if (typeof group !== 'string' || group === '') {
    throw new SyncConfigError(
      'group',
      `A group name must be a non-empty string, got ${JSON.stringify(group)}`
    )
  }
  if (typeof member !== 'string' || member === '') {
    throw new SyncConfigError(
      'member',
      `A member name must be a non-empty string, got ${JSON.stringify(member)}`
    )
  }
  for (const name of ['claimAfterMs', 'prefetch'] as const) {
    const value = options?.[name]
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw new SyncConfigError(name, `Option "${name}" must be a whole number > 0, got ${String(value)}`)
    }
  }
}
