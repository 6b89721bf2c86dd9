import type { Position } from '../adapter'
import type { Envelope } from '../protocol/envelope'

/** How a group finds the handler of an event: its service path and event name. */
export const handlerKey = (path: string, event: string): string => `${path}\u0000${event}`

/** A service path without leading or trailing slashes, as Feathers names services. */
export const stripSlashes = (path: string): string => path.replace(/^\/+|\/+$/g, '')

/** `<sender>:<id>` for messages stamped by an instance; the log position for anything else. */
export const idempotencyKey = (envelope: Envelope, position: Position | undefined): string =>
  envelope.sender !== undefined && envelope.id !== undefined
    ? `${envelope.sender}:${envelope.id}`
    : `log:${position ?? 'unknown'}`

/** How an error names a message: its position where the broker gives one (RabbitMQ groups do not). */
export const whereIs = (position: Position | undefined, envelope: Envelope | undefined): string =>
  position !== undefined
    ? `at position ${position}`
    : envelope
      ? `with idempotency key ${idempotencyKey(envelope, undefined)}`
      : 'that could not be decoded'
