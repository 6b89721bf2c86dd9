/**
 * The message that travels. Its first four fields are exactly what feathers-sync 3.x
 * sends and reads, so mixed fleets keep working; the rest is ignored by feathers-sync.
 */
export interface Envelope {
  /** Service event name, e.g. `created`. */
  event: string
  /** Service path, e.g. `messages`. */
  path: string
  /** The event data (the result for standard events). */
  data: unknown
  /** The part of the hook context that travels, or `null`. */
  context: Record<string, unknown> | null
  /** Envelope version; absent on messages written by feathers-sync. */
  v?: number
  /** Instance id of the sender; absent on messages written by feathers-sync. */
  sender?: string
  /** Per-sender message number, increasing; absent on messages written by feathers-sync. */
  id?: number
  /** When the sender encoded it, in ms since the epoch (its clock); absent on feathers-sync messages. */
  t?: number
  /**
   * W3C trace context of the call that raised the event (`traceparent`, `tracestate`), when the sender
   * runs OpenTelemetry; receivers run the event's listeners inside it.
   */
  trace?: Record<string, string>
}

export const ENVELOPE_VERSION = 1

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const isStringRecord = (value: unknown): boolean =>
  isPlainObject(value) && Object.values(value).every((entry) => typeof entry === 'string')

/**
 * Checks a decoded message and says what is wrong with it, or returns `undefined` when it
 * is a valid envelope (ours or feathers-sync's).
 */
export function envelopeProblem(message: unknown): string | undefined {
  if (!isPlainObject(message))
    return `expected an object, got ${Array.isArray(message) ? 'an array' : typeof message}`
  if (typeof message.event !== 'string' || message.event === '')
    return 'field "event" must be a non-empty string'
  if (typeof message.path !== 'string') return 'field "path" must be a string'
  if (message.context != null && !isPlainObject(message.context))
    return 'field "context" must be an object or null'
  if (message.sender !== undefined && typeof message.sender !== 'string')
    return 'field "sender" must be a string'
  if (message.id !== undefined && !(Number.isSafeInteger(message.id) && (message.id as number) >= 0)) {
    return 'field "id" must be a whole number of zero or more'
  }
  if (message.t !== undefined && !Number.isFinite(message.t)) return 'field "t" must be a number'
  if (message.trace !== undefined && !isStringRecord(message.trace)) {
    return 'field "trace" must be an object of strings'
  }
  return undefined
}
