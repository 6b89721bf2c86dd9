/**
 * Which option names exist, so that a misspelt one is refused with the closest known name instead of
 * being ignored. Each list is a `Record<keyof XOptions, true>` beside its type, so an option added to a
 * type without its name here, or a name here that is not in the type, does not compile.
 */
import { closest, distance } from 'fastest-levenshtein'
import { AMQP_OPTION_KEYS } from '../adapters/amqp/options'
import { MEMORY_OPTION_KEYS } from '../adapters/memory'
import { NATS_OPTION_KEYS } from '../adapters/nats/options'
import { REDIS_OPTION_KEYS } from '../adapters/redis/options'
import { BATCH_OPTION_KEYS } from './engine/batching'
import { BASE_OPTION_KEYS, DURABLE_OPTION_KEYS } from './engine/options'
import { OUTBOX_OPTION_KEYS } from './engine/outbox'
import { SyncConfigError } from './errors'
import { FEATHERS_OPTION_KEYS } from './feathers/options'
import { adapterOptionNames } from './registry'

/** Not an option yet, but named so that the AMQP adapter can say so instead of "unknown". */
const RESERVED = ['amqpConnection']

// Computed on first use, once every module is loaded.
let builtin: readonly string[] | undefined
const builtinNames = (): readonly string[] =>
  (builtin ??= [
    ...[
      BASE_OPTION_KEYS,
      FEATHERS_OPTION_KEYS,
      MEMORY_OPTION_KEYS,
      REDIS_OPTION_KEYS,
      AMQP_OPTION_KEYS,
      NATS_OPTION_KEYS
    ].flatMap((keys) => Object.keys(keys)),
    'echo',
    ...RESERVED
  ])

/** The known name `name` most likely meant, if one is close enough to be a typo of it. */
function suggestion(name: string, known: readonly string[]): string | undefined {
  if (known.length === 0) return undefined
  const guess = closest(
    name.toLowerCase(),
    known.map((option) => option.toLowerCase())
  )
  const limit = Math.max(2, Math.floor(name.length / 3))
  if (distance(name.toLowerCase(), guess) > limit) return undefined
  return known.find((option) => option.toLowerCase() === guess)
}

function refuseUnknown(given: object, known: readonly string[], prefix: string): void {
  for (const name of Object.keys(given)) {
    if (known.includes(name)) continue
    const option = `${prefix}${name}`
    const guess = suggestion(name, known)
    const hint = guess
      ? `; did you mean "${prefix}${guess}"?`
      : prefix === ''
        ? '. See docs/configuration.md; an adapter registered with registerAdapter() names its own ' +
          'options with { optionNames }'
        : `; known: ${known.join(', ')}`
    throw new SyncConfigError(option, `Unknown option "${option}"${hint}`)
  }
}

/**
 * Throws a `SyncConfigError` for the first option name that no built-in or registered adapter knows,
 * naming the closest known one. Checks `outbox`, `durable` and `batch` too; the drivers' own option objects pass
 * untouched. A binding passes the names of its own options as `extra`.
 */
export function checkOptionNames(options: object, extra: readonly string[] = []): void {
  refuseUnknown(options, [...builtinNames(), ...adapterOptionNames(), ...extra], '')
  const { outbox, durable, batch } = options as { outbox?: unknown; durable?: unknown; batch?: unknown }
  if (typeof outbox === 'object' && outbox !== null) {
    refuseUnknown(outbox, Object.keys(OUTBOX_OPTION_KEYS), 'outbox.')
  }
  if (typeof durable === 'object' && durable !== null) {
    refuseUnknown(durable, Object.keys(DURABLE_OPTION_KEYS), 'durable.')
  }
  if (typeof batch === 'object' && batch !== null) {
    refuseUnknown(batch, Object.keys(BATCH_OPTION_KEYS), 'batch.')
  }
}
