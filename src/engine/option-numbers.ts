// Number checks shared by the bus's option parsers; each error names the bad option.
import { SyncConfigError } from '../errors'

/** A number >= 0 or undefined (the adapter then decides). */
export function nonNegative(option: string, value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new SyncConfigError(option, `Option "${option}" must be a number >= 0, got ${String(value)}`)
  }
  return value
}

/** A number > 0, or `fallback` when undefined. */
export function positive(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new SyncConfigError(option, `Option "${option}" must be a positive number, got ${String(value)}`)
  }
  return value
}

/** A whole number > 0, or `fallback` when undefined. */
export function whole(option: string, value: unknown, fallback: number): number {
  const number = positive(option, value, fallback)
  if (!Number.isSafeInteger(number)) {
    throw new SyncConfigError(option, `Option "${option}" must be a whole number, got ${String(value)}`)
  }
  return number
}
