import type { Position } from '../../src/adapter'
import { SyncMessageError } from '../../src/errors'

/** Stream entries as the durable adapter writes them: a payload, or a gap marker. */

/** The field of a stream entry that holds the payload. */
export const PAYLOAD_FIELD = 'p'
/**
 * The field of a gap marker: an entry without a payload that a publisher adds when Redis lost confirmed
 * entries it can no longer store again (see ./confirmed.ts). Readers report a gap at it.
 */
export const GAP_FIELD = 'g'

/** A stream entry as the `…Buffer` commands return it: id and flat `[field, value, …]`. */
export type RawEntry = [id: Buffer, fields: Buffer[]]

/**
 * Ids and payloads of raw entries, oldest first; gap markers have no payload; other entries without one
 * are reported and skipped.
 */
export function decodeEntries(
  entries: RawEntry[],
  onBad: (error: SyncMessageError) => void
): { position: Position; payload: Buffer | undefined; marker?: true }[] {
  return entries.map(([rawId, fields]) => {
    const position = rawId.toString()
    let payload: Buffer | undefined
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const field = fields[i].toString()
      if (field === PAYLOAD_FIELD) payload = fields[i + 1]
      else if (field === GAP_FIELD) return { position, payload: undefined, marker: true }
    }
    if (payload === undefined) {
      onBad(
        new SyncMessageError('shape', `Stream entry ${position} has no "${PAYLOAD_FIELD}" field; skipped`)
      )
    }
    return { position, payload }
  })
}
