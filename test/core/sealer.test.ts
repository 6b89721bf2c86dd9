/**
 * The signed frame itself (src/security.ts), attacked directly: malformed and crafted frames, odd
 * times and message numbers, the replay window's edges, key ids and channels. The same checks on a
 * running fleet are in security.test.ts and, per broker, in the conformance suite.
 */
import { Sealer, type Opened } from '../../src/protocol/security'

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!'
const OTHER = 'another-secret-that-is-at-least-32-bytes'
const BODY = JSON.stringify({ event: 'created', path: 'todos', data: { marker: 'm' }, context: null })
const SENDER = '0123456789abcdef'
const T0 = Date.UTC(2026, 0, 1)

const refusal = (opened: Opened) => ('refused' in opened ? opened.refused : 'accepted')
const accepted = (opened: Opened) => 'body' in opened

describe('open() on malformed and crafted frames', () => {
  const inputs = (encrypt: boolean) => {
    const sealer = new Sealer({ secrets: [SECRET], encrypt })
    return { sealer, frame: sealer.seal(BODY, SENDER, 1, T0) }
  }

  it.each([false, true])(
    'never throws and refuses every truncation and every flipped bit (encrypt: %s)',
    (encrypt) => {
      const { sealer, frame } = inputs(encrypt)
      for (let length = 0; length < frame.length; length++) {
        expect(refusal(sealer.open(frame.subarray(0, length), T0, false))).toBe('unauthenticated')
      }
      for (let bit = 0; bit < frame.length * 8; bit++) {
        const flipped = Buffer.from(frame)
        flipped[bit >> 3] ^= 1 << (bit & 7)
        expect(refusal(sealer.open(flipped, T0, false))).not.toBe('accepted')
      }
      expect(accepted(sealer.open(frame, T0, false))).toBe(true)
    }
  )

  it('never throws on random bytes behind a valid magic, or on values that are not bytes at all', () => {
    const sealer = new Sealer({ secrets: [SECRET] })
    for (let i = 0; i < 500; i++) {
      const junk = Buffer.concat([
        Buffer.from('FFo1'),
        Buffer.from(Array.from({ length: i % 200 }, () => (Math.random() * 256) | 0))
      ])
      expect(refusal(sealer.open(junk))).toBe('unauthenticated')
    }
    for (const value of [
      undefined,
      null,
      42,
      {},
      [1, 2],
      new DataView(new ArrayBuffer(80)),
      new Uint16Array(60)
    ]) {
      expect(refusal(sealer.open(value as never))).toBe('unauthenticated')
    }
  })

  it('refuses NaN, infinite and far-off send times as stale', () => {
    const sender = new Sealer({ secrets: [SECRET] })
    const receiver = new Sealer({ secrets: [SECRET] })
    for (const time of [NaN, Infinity, -Infinity, 0, -T0, T0 + 31_000, T0 - 31_000]) {
      expect(refusal(receiver.open(sender.seal(BODY, SENDER, 1, time), T0))).toBe('stale')
    }
    expect(accepted(receiver.open(sender.seal(BODY, SENDER, 1, T0 + 29_000), T0))).toBe(true)
  })

  it('refuses fractional, negative, huge and NaN message numbers without poisoning the sender', () => {
    const sender = new Sealer({ secrets: [SECRET] })
    const receiver = new Sealer({ secrets: [SECRET] })
    for (const seq of [1.5, -1, 2 ** 53, Number.MAX_VALUE, Infinity, NaN]) {
      const opened = receiver.open(sender.seal(BODY, SENDER, seq, T0), T0)
      expect(opened).toEqual({
        refused: 'replayed',
        why: `message number ${seq} cannot be checked for replay`
      })
    }
    expect(accepted(receiver.open(sender.seal(BODY, SENDER, 1, T0), T0))).toBe(true)
    expect(accepted(receiver.open(sender.seal(BODY, SENDER, 2, T0), T0))).toBe(true)
  })

  it('tries every secret whose key id matches, so a (64-bit) id collision cannot lock a key out', () => {
    const sender = new Sealer({ secrets: [OTHER] })
    const receiver = new Sealer({ secrets: [SECRET, OTHER] })
    // Unreachable with real secrets: give the first key the id of the second.
    const keys = (receiver as unknown as { keys: { id: Buffer }[] }).keys
    keys[0].id = keys[1].id
    expect(accepted(receiver.open(sender.seal(BODY, SENDER, 1, T0), T0))).toBe(true)
  })

  it('binds frames to their channel: one sealed for another key (channel) with the same secret is refused', () => {
    const staging = new Sealer({ secrets: [SECRET] }, 'staging-events')
    const production = new Sealer({ secrets: [SECRET] }, 'production-events')
    expect(production.open(staging.seal(BODY, SENDER, 1, T0), T0)).toEqual({
      refused: 'unauthenticated',
      why: 'message is signed with an unknown key'
    })
  })

  it('reseal() hands back anything that is not its frame unchanged, and never throws', () => {
    const sealer = new Sealer({ secrets: [SECRET], maxMessageAgeMs: 1_000 })
    const junk = Buffer.concat([Buffer.from('FFo1'), Buffer.alloc(80, 7)])
    for (const payload of ['not a frame', Buffer.alloc(3), junk, new Uint8Array(0)]) {
      expect(sealer.reseal(payload, T0)).toBe(payload)
    }
  })
})

describe('the replay window', () => {
  const sender = new Sealer({ secrets: [SECRET] })
  const frame = (seq: number, id = SENDER, time = T0) => sender.seal(BODY, id, seq, time)

  it('accepts each number once, out of order inside the 8,192-number window, and none below it', () => {
    const receiver = new Sealer({ secrets: [SECRET] })
    const open = (seq: number) => refusal(receiver.open(frame(seq), T0))
    expect([20_000, 14_000, 14_000, 11_808, 11_809, 20_000].map(open)).toEqual([
      'accepted',
      'accepted',
      'replayed',
      'replayed',
      'accepted',
      'replayed'
    ])
    // A jump past the whole window forgets everything below it.
    expect([100_000, 99_000, 99_000, 20_001].map(open)).toEqual([
      'accepted',
      'accepted',
      'replayed',
      'replayed'
    ])
  })

  it('slides one number at a time for a sender counting up, and still refuses every replay', () => {
    const receiver = new Sealer({ secrets: [SECRET] })
    for (let seq = 1; seq <= 3_000; seq++) expect(accepted(receiver.open(frame(seq), T0))).toBe(true)
    for (const seq of [1, 1_976, 1_977, 2_500, 3_000])
      expect(refusal(receiver.open(frame(seq), T0))).toBe('replayed')
  })

  it('lets a restarted sender (a new instance id) start again at 1, but not its old id', () => {
    const receiver = new Sealer({ secrets: [SECRET] })
    expect(accepted(receiver.open(frame(10_000), T0))).toBe(true)
    expect(accepted(receiver.open(frame(1, 'fedcba9876543210'), T0))).toBe(true)
    expect(refusal(receiver.open(frame(1), T0))).toBe('replayed')
  })

  it('forgets a sender idle for twice maxMessageAgeMs, when its old frames are stale anyway', () => {
    const receiver = new Sealer({ secrets: [SECRET], maxMessageAgeMs: 1_000 })
    const first = frame(1, SENDER, T0)
    expect(accepted(receiver.open(first, T0))).toBe(true)
    // Another sender shows up while the first is not idle yet: it is remembered.
    expect(accepted(receiver.open(frame(1, '1111111111111111', T0 + 1_500), T0 + 1_500))).toBe(true)
    expect(refusal(receiver.open(frame(1, SENDER, T0 + 1_500), T0 + 1_500))).toBe('replayed')
    // Past 2 × 1,000 ms idle it is forgotten: its captured frame is stale, a new one is accepted.
    expect(accepted(receiver.open(frame(1, '2222222222222222', T0 + 3_600), T0 + 3_600))).toBe(true)
    expect(refusal(receiver.open(first, T0 + 3_600))).toBe('stale')
    expect(accepted(receiver.open(frame(1, SENDER, T0 + 3_600), T0 + 3_600))).toBe(true)
  })
})
