import type { Application } from '@feathersjs/feathers'
import type { DurableLog, Position } from '../../adapter'
import type { Codec } from '../../protocol/codec'
import type { Envelope } from '../../protocol/envelope'
import type { GapReason } from '../../client/protocol'
import { compareEventPositions, framedPosition, splitPosition } from '../../engine/event-positions'
import { isFrame, unpackFrame } from '../../protocol/batch'
import type { Payload } from '../../protocol/serializers'

/** Entries per `readRange` call of a replay. */
const PAGE = 500

/** One event of the log a replay considers. */
export interface LoggedEvent {
  envelope: Envelope
  position: Position
}

/** The log's events in `(after, upper]`, or why a replay cannot give them all. */
export type ReadResult = { events: LoggedEvent[] } | { gap: GapReason; message: string }

/**
 * Reads what followed `after` up to `upper` (inclusive), decoding each message as stored. Bounded: at
 * most `maxEvents` entries, in pages; more is a `tooMany` gap. A position older than what retention holds
 * is a `trimmed` gap (when the log can tell its first position).
 */
export async function readMissed(
  log: DurableLog,
  codec: Codec,
  after: Position,
  upper: Position | undefined,
  maxEvents: number
): Promise<ReadResult> {
  const compare = (a: Position, b: Position) =>
    compareEventPositions((x, y) => log.comparePositions(x, y), a, b)
  let compared: number
  try {
    compared = upper === undefined ? 1 : compare(after, upper)
  } catch (cause) {
    return {
      gap: 'invalid',
      message: `Position ${JSON.stringify(after)} is not one of this log's: ${String(cause)}`
    }
  }
  if (upper === undefined || compared > 0) {
    return { gap: 'invalid', message: `Position ${after} is after the end of the log (${upper ?? 'empty'})` }
  }
  // After an event of a frame, the rest of that frame is owed first: it must still be held.
  const { message, index } = splitPosition(after)
  const first = log.firstPosition ? await log.firstPosition() : undefined
  if (first !== undefined && log.comparePositions(message, first) < 0) {
    return {
      gap: 'trimmed',
      message: `Retention dropped what followed ${after}; the oldest held is ${first}`
    }
  }
  const events: LoggedEvent[] = []
  let read = 0
  // Adds an entry's events after `after` (a frame holds several); false once past `upper` or maxEvents.
  const take = (payload: Payload, position: Position): ReadResult | undefined => {
    for (const { event, at } of eventsIn(payload, position)) {
      if (compare(at, after) <= 0) continue
      if (compare(at, upper) > 0) return { events }
      if (++read > maxEvents) {
        return {
          gap: 'tooMany',
          message: `More than ${maxEvents} events followed ${after} (recovery.maxEvents)`
        }
      }
      const envelope = codec.readStored(event)
      if (envelope) events.push({ envelope, position: at })
    }
    return undefined
  }
  if (index !== undefined) {
    const [held] = await log.readRange(message, 1, true)
    if (held === undefined || log.comparePositions(held.position, message) !== 0) {
      return { gap: 'trimmed', message: `The log no longer holds ${message}, the message of ${after}` }
    }
    const done = take(held.payload, held.position)
    if (done) return done
  }
  let cursor = message
  // Each page moves the cursor on, and at most maxEvents + 1 events are read: the loop is bounded.
  while (log.comparePositions(cursor, upper) < 0) {
    const page = await log.readRange(cursor, Math.min(PAGE, maxEvents + 1 - read))
    if (page.length === 0) break
    for (const { payload, position } of page) {
      const done = take(payload, position)
      if (done) return done
      cursor = position
    }
  }
  return { events }
}

/** The events of a stored message with their positions: one, or each of a batched frame's. */
function eventsIn(payload: Payload, position: Position): { event: Payload; at: Position }[] {
  if (!isFrame(payload)) return [{ event: payload, at: position }]
  const events = unpackFrame(payload)
  // A malformed frame yields nothing here; live receivers count it as a dropped shape.
  if (typeof events === 'string') return []
  return events.map((event, index) => ({ event, at: framedPosition(position, index + 1) }))
}

type Publisher = (data: unknown, context: unknown) => unknown
type Publishers = Partial<Record<string | symbol, Publisher>>
interface ChannelLike {
  connections: unknown[]
  data?: unknown
}

const PUBLISHERS = Symbol.for('@feathersjs/transport-commons/publishers')
const ALL_EVENTS = Symbol.for('@feathersjs/transport-commons/all-events')

/** The publisher transport-commons' channels use for `event` of `service`, in their order of precedence. */
function publisherFor(app: Application, service: object, event: string): Publisher | undefined {
  const own = (service as { [PUBLISHERS]?: Publishers })[PUBLISHERS] ?? {}
  const global = (app as unknown as { [PUBLISHERS]?: Publishers })[PUBLISHERS] ?? {}
  return own[event] ?? own[ALL_EVENTS] ?? global[event] ?? global[ALL_EVENTS]
}

const flatten = (value: unknown): unknown[] => (Array.isArray(value) ? value.flatMap(flatten) : [value])

const isChannel = (value: unknown): value is ChannelLike =>
  typeof value === 'object' && value !== null && Array.isArray((value as ChannelLike).connections)

/**
 * What `connection` would have been sent for this event by the app's own channel publishers, exactly as
 * transport-commons decides it (first channel holding the connection gives its data, else the context's
 * `dispatch`, else the result), or `undefined` when its channels would not send it the event at all.
 */
export async function dispatchFor(
  app: Application,
  service: object,
  event: string,
  data: unknown,
  context: { dispatch?: unknown; result?: unknown },
  connection: object
): Promise<{ data: unknown } | undefined> {
  const publisher = publisherFor(app, service, event)
  if (!publisher) return undefined
  const result = await publisher(data, context)
  if (!result) return undefined
  const channel = flatten(result).find((c) => isChannel(c) && c.connections.includes(connection))
  if (!channel) return undefined
  // `||` as transport-commons' dispatcher has it: a falsy channel data or dispatch falls through.
  return { data: (channel as ChannelLike).data || context.dispatch || context.result }
}
