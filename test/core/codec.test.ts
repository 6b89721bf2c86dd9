/**
 * The codec's delivery policy: plain pub/sub and durable logs judge the same signed frame differently.
 */
import type { DropReason } from '../../src/errors'
import { Codec } from '../../src/protocol/codec'

const secrets = ['codec-policy-secret-of-32-bytes!!!!']

function pair(maxMessageAgeMs = 30_000) {
  const drops: DropReason[] = []
  const options = { secrets, maxMessageAgeMs, channel: 'k', maxMessageBytes: 1 << 20, keepOwn: false }
  const sender = new Codec({ ...options, instanceId: 'aaaaaaaaaaaaaaaa' }, () => undefined)
  const receiver = new Codec({ ...options, instanceId: 'bbbbbbbbbbbbbbbb' }, (reason) => drops.push(reason))
  const encoded = sender.encode({ event: 'created', path: 'todos', data: { n: 1 }, context: null })
  if (!encoded) throw new Error('the message did not encode')
  return { receiver, payload: encoded.payload, drops }
}

describe('the delivery policy', () => {
  it('counts a signed repeat as replayed in pub/sub and as a duplicate (a redelivery) in durable mode', () => {
    const live = pair()
    expect(live.receiver.decode(live.payload, 'broadcast')).toBeDefined()
    expect(live.receiver.decode(live.payload, 'broadcast')).toBeUndefined()
    expect(live.drops).toEqual(['replayed'])
    const log = pair()
    expect(log.receiver.decode(log.payload, 'durable')).toBeDefined()
    expect(log.receiver.decode(log.payload, 'durable')).toBeUndefined()
    expect(log.drops).toEqual(['duplicate'])
  })

  it('refuses a signed frame older than maxMessageAgeMs in pub/sub and accepts it from a durable log', async () => {
    const live = pair(20)
    const log = pair(20)
    await new Promise((resolve) => setTimeout(resolve, 60))
    expect(live.receiver.decode(live.payload, 'broadcast')).toBeUndefined()
    expect(live.drops).toEqual(['stale'])
    expect(log.receiver.decode(log.payload, 'durable')?.envelope.data).toEqual({ n: 1 })
  })

  it('numbers only messages that can travel, so receivers see no hole for an oversize one', () => {
    const codec = new Codec(
      { channel: 'k', maxMessageBytes: 200, keepOwn: false, instanceId: 'cccccccccccccccc' },
      () => undefined
    )
    expect(codec.encode({ event: 'e', path: 'p', data: 1, context: null })?.envelope.id).toBe(1)
    expect(codec.encode({ event: 'e', path: 'p', data: 'x'.repeat(500), context: null })).toBeUndefined()
    expect(codec.encode({ event: 'e', path: 'p', data: 2, context: null })?.envelope.id).toBe(2)
  })

  it.each([
    ['unsigned', undefined],
    ['signed', secrets]
  ])('counts and reports the numbers a pub/sub sender skipped as missed (%s), once', (_, keys) => {
    const drops: { reason: DropReason; count: number | undefined; message: string | undefined }[] = []
    const options = { secrets: keys, channel: 'k', maxMessageBytes: 1 << 20, keepOwn: false }
    const sender = new Codec({ ...options, instanceId: 'dddddddddddddddd' }, () => undefined)
    const receiver = new Codec({ ...options, instanceId: 'eeeeeeeeeeeeeeee' }, (reason, error, count) =>
      drops.push({ reason, count, message: error?.message })
    )
    const sent = Array.from({ length: 7 }, (_, n) => {
      const encoded = sender.encode({ event: 'created', path: 'todos', data: { n }, context: null })
      if (!encoded) throw new Error(`message ${n} did not encode`)
      return encoded.payload
    })
    // Heard: 1, 2, then 6 (3 to 5 lost), then 5 arriving late (not counted again), then 7.
    for (const index of [0, 1, 5, 4, 6]) expect(receiver.decode(sent[index], 'broadcast')).toBeDefined()
    expect(drops).toEqual([
      {
        reason: 'missed',
        count: 3,
        message: expect.stringMatching(/^Missed 3 messages from instance .*3 to 5/)
      }
    ])
  })

  it('leaves the gaps of a durable log to the log (sync-gap): no missed count in durable mode', () => {
    const drops: DropReason[] = []
    const options = { channel: 'k', maxMessageBytes: 1 << 20, keepOwn: false }
    const sender = new Codec({ ...options, instanceId: 'ffffffffffffffff' }, () => undefined)
    const receiver = new Codec({ ...options, instanceId: 'gggggggggggggggg' }, (reason) => drops.push(reason))
    const first = sender.encode({ event: 'e', path: 'p', data: 1, context: null })
    sender.encode({ event: 'e', path: 'p', data: 2, context: null })
    const third = sender.encode({ event: 'e', path: 'p', data: 3, context: null })
    expect(receiver.decode(first?.payload ?? '', 'durable')).toBeDefined()
    expect(receiver.decode(third?.payload ?? '', 'durable')).toBeDefined()
    expect(drops).toEqual([])
  })
})
