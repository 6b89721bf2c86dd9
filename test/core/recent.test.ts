import { SequenceWindow } from '../../src/protocol/window'

describe('the per-sender duplicate window', () => {
  it('accepts each message number once, in any order within the window', () => {
    const seen = new SequenceWindow()
    expect([5, 3, 4, 5, 3, 9, 6, 9].map((id) => seen.add('a', id))).toEqual([
      true,
      true,
      true,
      false,
      false,
      true,
      true,
      false
    ])
  })

  it("keeps a sender's window however much other senders send (a resend after a long outage)", () => {
    const seen = new SequenceWindow()
    expect(seen.add('quiet', 1)).toBe(true)
    for (let i = 0; i < 100_000; i++) seen.add('busy', i)
    expect(seen.add('quiet', 1)).toBe(false)
    expect(seen.add('quiet', 2)).toBe(true)
  })

  it('refuses numbers older than the window and clears the bits it slides over', () => {
    const seen = new SequenceWindow()
    seen.add('a', 1)
    seen.add('a', 20_000)
    expect(seen.add('a', 1)).toBe(false)
    expect(seen.add('a', 19_999)).toBe(true)
    // 20_000 + 8192 shares its bit with 20_000: sliding onto it must not read it as seen.
    expect(seen.add('a', 20_000 + 8192)).toBe(true)
    expect(seen.add('a', 20_000)).toBe(false)
    expect(seen.add('a', 20_000 + 8191)).toBe(true)
  })
})
