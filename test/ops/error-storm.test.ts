import { memoryBus, SyncMessageError, type SyncError } from '../../src/index'
import { createBus } from '../../src/bus'
import { ReportLimiter } from '../../src/engine/reports'
import { barrier, createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from '../helpers/apps'

let fleet: TestApp[] = []
afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
})

const JUNK = 1_204

describe('error storms', () => {
  it('reports the first junk message at once, then one summary per window, and counts every one', async () => {
    const name = uniqueKey('storm')
    const key = uniqueKey('storm-key')
    fleet = await createFleet(2, { uri: `memory://${name}`, key, errorReportIntervalMs: 300 })
    const [sender, receiver] = fleet
    for (let i = 0; i < JUNK; i++) memoryBus(name).publish(key, `junk ${i} {`)
    await barrier(fleet, sender)
    expect(receiver.app.sync.stats().dropped.undecodable).toBe(JUNK)
    expect(receiver.errors).toHaveLength(1)
    expect(receiver.errors[0]).toBeInstanceOf(SyncMessageError)
    expect(receiver.errors[0].repeats).toBeUndefined()

    await waitFor('the summary', () => receiver.errors.length === 2, 5_000)
    const summary = receiver.errors[1] as SyncMessageError
    expect(summary).toBeInstanceOf(SyncMessageError)
    expect(summary.reason).toBe('undecodable')
    expect(summary.repeats).toBe(JUNK - 1)
    expect(summary.message).toBe('1,203 more undecodable messages in the last 0.3 s')
    expect(summary.cause).toBeInstanceOf(SyncMessageError)
    expect(receiver.app.sync.stats().errors).toEqual({ raised: JUNK, suppressed: JUNK - 1 })
  })

  it('keeps kinds apart: a different drop reason is reported at once during a storm', async () => {
    const name = uniqueKey('storm-kinds')
    const key = uniqueKey('storm-kinds-key')
    fleet = await createFleet(1, { uri: `memory://${name}`, key })
    const [app] = fleet
    for (let i = 0; i < 50; i++) memoryBus(name).publish(key, 'junk {')
    memoryBus(name).publish(key, '[1,2,3]')
    await waitFor('both drops', () => app.app.sync.stats().dropped.shape === 1)
    expect(app.errors.map((e) => (e as SyncMessageError).reason)).toEqual(['undecodable', 'shape'])
  })

  it('emits the pending summary when the app closes, and leaves no timer behind', async () => {
    const name = uniqueKey('storm-close')
    const key = uniqueKey('storm-close-key')
    const errors: SyncError[] = []
    const bus = createBus({ uri: `memory://${name}`, key }, { error: (e) => errors.push(e) })
    await bus.ready
    for (let i = 0; i < 10; i++) memoryBus(name).publish(key, 'junk {')
    await waitFor('the drops', () => bus.stats().dropped.undecodable === 10)
    expect(errors).toHaveLength(1)
    await bus.close()
    expect(errors.map((e) => e.message)).toEqual([
      'Could not decode an incoming message',
      '9 more undecodable messages in the last 10 s'
    ])
  })

  it('reports every one with errorReportIntervalMs: 0', async () => {
    const name = uniqueKey('storm-off')
    const key = uniqueKey('storm-off-key')
    fleet = await createFleet(1, { uri: `memory://${name}`, key, errorReportIntervalMs: 0 })
    for (let i = 0; i < 20; i++) memoryBus(name).publish(key, 'junk {')
    await waitFor('every report', () => fleet[0].errors.length === 20)
    expect(fleet[0].app.sync.stats().errors).toEqual({ raised: 20, suppressed: 0 })
  })

  it('writes the count of a summary without Intl, whose first use in a process stalls it', () => {
    // Number#toLocaleString loads ICU's number formats on its first call (60-180 ms measured), and the
    // first summary usually comes in the middle of a recovery.
    const toLocaleString = jest.spyOn(Number.prototype, 'toLocaleString')
    const reported: SyncError[] = []
    const limiter = new ReportLimiter(60_000, (error) => reported.push(error))
    let intlCalls: number
    try {
      const junk = new SyncMessageError('undecodable', 'junk')
      for (let i = 0; i < 1_234_568; i++) limiter.report(junk)
      limiter.flush()
    } finally {
      // Read before mockRestore(), which clears the recorded calls.
      intlCalls = toLocaleString.mock.calls.length
      toLocaleString.mockRestore()
    }
    expect(reported.map((error) => error.message)).toEqual([
      'junk',
      '1,234,567 more undecodable messages in the last 60 s'
    ])
    expect(intlCalls).toBe(0)
  })
})
