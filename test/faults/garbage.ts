/**
 * What the garbage scenario publishes on the channel behind the library's back, and how each instance
 * must count it. A valid-looking message that is merely too big is among them: it must be dropped as
 * oversize before anyone decodes it.
 */
import type { DropReason } from '../../src/index'

export interface Garbage {
  payloads: Buffer[]
  /** How much each drop counter of every instance must grow. */
  expected: Partial<Record<DropReason, number>>
}

const envelope = (fields: Record<string, unknown>) =>
  Buffer.from(JSON.stringify({ event: 'created', path: 'feed', data: {}, context: null, ...fields }))

export function garbage(maxMessageBytes: number): Garbage {
  const whole = envelope({ data: { f: -1, n: 0, s: 'garbage' }, v: 1, sender: 'feedfacefeedface', id: 1 })
  const undecodable = [
    Buffer.from([0xff, 0x00, 0xfe, 0x01, 0x80]),
    Buffer.from('not json at all {'),
    Buffer.from(''),
    // Truncated: a real message cut short, twice.
    whole.subarray(0, Math.floor(whole.length / 2)),
    whole.subarray(0, whole.length - 1)
  ]
  const shape = [
    '[1,2,3]',
    'null',
    '42',
    '"a string"',
    '{"path":"feed"}',
    '{"event":"created","path":"feed","context":"not an object"}',
    '{"event":"created","path":"feed","sender":5}'
  ].map((text) => Buffer.from(text))
  const unknownPath = [envelope({ path: 'no-such-service' }), envelope({ path: 'feed/deeper' })]
  const unknownEvent = [envelope({ event: 'exploded' })]
  const oversize = [
    envelope({ data: { f: -1, n: 1, s: 'garbage', pad: 'x'.repeat(maxMessageBytes) } }),
    Buffer.alloc(maxMessageBytes + 1, 0x7b)
  ]
  return {
    payloads: [...undecodable, ...shape, ...unknownPath, ...unknownEvent, ...oversize],
    expected: {
      undecodable: undecodable.length,
      shape: shape.length,
      unknownPath: unknownPath.length,
      unknownEvent: unknownEvent.length,
      oversize: oversize.length
    }
  }
}
