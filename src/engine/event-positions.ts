import type { Position } from '../adapter'

/**
 * Positions of events that travelled in a batched frame in durable mode.
 *
 * A broker numbers messages, and a frame is one message holding several events. Each event of the frame at
 * position `P` is handed over with the position `P#n`, `n` its place in the frame counting from 1. A plain
 * `P` stands for the whole message: it sorts after every `P#n`, so "after `P`" means after all of its
 * events, and "after `P#n`" means the rest of the frame, then what follows it. Adapters only ever see
 * their own positions (`P`): these event positions stay in the core, the Feathers binding and clients.
 */
const MARK = '#'
const SUFFIX = /#([1-9]\d{0,5})$/

/** The position of event `index` (from 1) of the frame at `position`. */
export const framedPosition = (position: Position, index: number): Position => `${position}${MARK}${index}`

/** The message's position and, for an event of a frame, its place in it (from 1). */
export function splitPosition(position: Position): { message: Position; index: number | undefined } {
  const match = SUFFIX.exec(position)
  if (!match) return { message: position, index: undefined }
  return { message: position.slice(0, match.index), index: Number(match[1]) }
}

/**
 * Orders event positions with the adapter's own `compare` of message positions: by message, then by place
 * in the frame, a whole message after its events. Throws what `compare` throws for a position that is not
 * the log's.
 */
export function compareEventPositions(
  compare: (a: Position, b: Position) => number,
  a: Position,
  b: Position
): number {
  const left = splitPosition(a)
  const right = splitPosition(b)
  const byMessage = compare(left.message, right.message)
  if (byMessage !== 0) return byMessage
  return Math.sign((left.index ?? Infinity) - (right.index ?? Infinity)) || 0
}
