import { SyncConfigError } from '../../errors'

/** Options of client recovery (`recovery` option of `sync()`); see docs/client-recovery.md. */
export interface RecoveryOptions {
  /**
   * Most events one replay reads from the log for a client; a client that missed more gets a `tooMany`
   * gap and should refetch. The log's own retention (`durable.maxMessages`) bounds it too.
   * @default 1_000
   */
  maxEvents?: number
  /**
   * Longest absence (ms) a replay covers; a client away longer gets a `tooOld` gap. The log's own
   * retention (`durable.maxAgeMs`) bounds it too.
   * @default 300_000 (5 minutes)
   */
  maxAgeMs?: number
  /**
   * How long (ms) a recovering connection's live events are held back while the server waits for its
   * replay request (the client authenticates first). After that they flow, and a later request gets a
   * `late` gap.
   * @default 10_000
   */
  holdMs?: number
}

/** Every option of `RecoveryOptions`; a missing or extra name does not compile. */
export const RECOVERY_OPTION_KEYS = {
  maxEvents: true,
  maxAgeMs: true,
  holdMs: true
} satisfies Record<keyof RecoveryOptions, true>

export type ResolvedRecovery = Required<RecoveryOptions>

const DEFAULTS: ResolvedRecovery = { maxEvents: 1_000, maxAgeMs: 300_000, holdMs: 10_000 }

function positive(name: keyof RecoveryOptions, value: unknown): number {
  if (value === undefined) return DEFAULTS[name]
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new SyncConfigError(
      `recovery.${name}`,
      `Option "recovery.${name}" must be a whole number above 0, got ${String(value)}`
    )
  }
  return value
}

/**
 * Validates `recovery`, naming the bad option; `false` or absent when it is off.
 * @throws SyncConfigError for a bad value or an unknown name
 */
export function parseRecovery(recovery: unknown): ResolvedRecovery | false {
  if (recovery === undefined || recovery === false) return false
  if (recovery === true) return { ...DEFAULTS }
  if (typeof recovery !== 'object' || recovery === null || Array.isArray(recovery)) {
    throw new SyncConfigError(
      'recovery',
      `Option "recovery" must be true, false or an object, got ${String(recovery)}`
    )
  }
  for (const name of Object.keys(recovery)) {
    if (!(name in RECOVERY_OPTION_KEYS)) {
      const known = Object.keys(RECOVERY_OPTION_KEYS).join(', ')
      throw new SyncConfigError(`recovery.${name}`, `Unknown option "recovery.${name}"; known: ${known}`)
    }
  }
  const given = recovery as RecoveryOptions
  return {
    maxEvents: positive('maxEvents', given.maxEvents),
    maxAgeMs: positive('maxAgeMs', given.maxAgeMs),
    holdMs: positive('holdMs', given.holdMs)
  }
}
