import type { Payload } from './serializers'

/**
 * Batched frames: several encoded messages in one broker message.
 *
 * A frame is bytes: the 4-byte mark `46 46 62 81` ("FFb" and a version byte with its high bit set), then
 * for each message its length as a 32-bit big-endian number and its bytes, exactly as the codec made them
 * (serialized and, with `secrets`, sealed one by one). The mark cannot start a JSON text, a sealed frame
 * (`FFo1`) or a BSON document (read as BSON's little-endian length it is negative), so a receiver tells a
 * frame from a single message by its first four bytes. feathers-sync cannot read frames.
 */
const MARK = Buffer.from([0x46, 0x46, 0x62, 0x81])
const LENGTH_BYTES = 4

/** Bytes a frame adds to its messages: the mark, and a length before each message. */
export const frameOverhead = (messages: number): number => MARK.length + LENGTH_BYTES * messages

/** How large a frame may get. */
export interface FrameLimits {
  /** Most messages in one frame. */
  maxMessages: number
  /** Most bytes in one frame, the mark and lengths included. */
  maxBytes: number
}

const asBuffer = (payload: Uint8Array): Buffer =>
  Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)

/** Whether `raw` is a batched frame (and not a single message). */
export function isFrame(raw: Payload): raw is Uint8Array {
  return (
    typeof raw !== 'string' &&
    raw.byteLength >= MARK.length &&
    raw[0] === MARK[0] &&
    raw[1] === MARK[1] &&
    raw[2] === MARK[2] &&
    raw[3] === MARK[3]
  )
}

/** Packs `items` (two or more, each `sizes[i]` bytes) into one frame. */
function pack(items: readonly Payload[], sizes: readonly number[]): Buffer {
  const total = frameOverhead(items.length) + sizes.reduce((sum, size) => sum + size, 0)
  const frame = Buffer.allocUnsafe(total)
  MARK.copy(frame, 0)
  let offset = MARK.length
  items.forEach((item, index) => {
    offset = frame.writeUInt32BE(sizes[index], offset)
    if (typeof item === 'string') offset += frame.write(item, offset, 'utf8')
    else offset += asBuffer(item).copy(frame, offset)
  })
  return frame
}

/**
 * Groups `payloads`, in order, into as few broker messages as `limits` allow: a run of two or more
 * becomes a frame, a message alone (or one too large to share a frame) travels as it is.
 */
export function packFrames(payloads: readonly Payload[], limits: FrameLimits): Payload[] {
  if (payloads.length < 2) return [...payloads]
  const out: Payload[] = []
  let run: Payload[] = []
  let sizes: number[] = []
  let bytes = MARK.length
  const close = () => {
    if (run.length === 1) out.push(run[0])
    else if (run.length > 1) out.push(pack(run, sizes))
    run = []
    sizes = []
    bytes = MARK.length
  }
  for (const payload of payloads) {
    const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength
    if (run.length >= limits.maxMessages || bytes + LENGTH_BYTES + size > limits.maxBytes) close()
    run.push(payload)
    sizes.push(size)
    bytes += LENGTH_BYTES + size
  }
  close()
  return out
}

/**
 * The messages of a frame, in order (views into it), or a sentence saying what is wrong with it. Call it
 * only on a frame (see {@link isFrame}).
 */
export function unpackFrame(frame: Uint8Array): Buffer[] | string {
  const bytes = asBuffer(frame)
  const items: Buffer[] = []
  let offset = MARK.length
  while (offset < bytes.length) {
    if (offset + LENGTH_BYTES > bytes.length) {
      return `a message length is cut off at byte ${offset} of ${bytes.length}`
    }
    const size = bytes.readUInt32BE(offset)
    offset += LENGTH_BYTES
    if (size === 0 || offset + size > bytes.length) {
      return `message ${items.length + 1} claims ${size} bytes at byte ${offset} of ${bytes.length}`
    }
    items.push(bytes.subarray(offset, offset + size))
    offset += size
  }
  return items.length === 0 ? 'it holds no message' : items
}
