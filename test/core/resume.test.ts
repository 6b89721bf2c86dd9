/**
 * `resumeDelayMs`: after a reconnect the core holds what queued during the outage, so that instances
 * that come back a little later still receive it. One mechanism for every adapter; the adapter only
 * proposes the default.
 */
import { feathers } from '@feathersjs/feathers'
import { memoryBus, sync, SyncConfigError, type Adapter, type AdapterHooks } from '../../src/index'
import type { StatusDetail } from '../../src/adapter'
import type { Payload } from '../../src/protocol/serializers'
import { createFleet, createTestApp, teardownFleet, uniqueKey, waitFor, type TestApp } from '../helpers/apps'

let fleet: TestApp[] = []
afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
})

/** An adapter the test drives by hand: it records what it was given and when. */
function manualAdapter(resumeDelayMs?: number) {
  let hooks: AdapterHooks | undefined
  let connected: () => void = () => undefined
  const gate = new Promise<void>((resolve) => (connected = resolve))
  const sent: { payload: Payload; at: number }[] = []
  const adapter: Adapter = {
    type: 'manual',
    target: '127.0.0.1:1',
    resumeDelayMs,
    async connect(given) {
      hooks = given
      await gate
    },
    subscribe: async () => undefined,
    publish: (payload) => void sent.push({ payload, at: Date.now() }),
    close: async () => undefined
  }
  return {
    adapter,
    sent,
    connected,
    status: (status: 'ready' | 'reconnecting') => hooks?.status(status, new Error('test outage')),
    detailed: (status: 'ready' | 'reconnecting', detail: StatusDetail) =>
      hooks?.status(status, new Error('test outage'), detail)
  }
}

const manualStatus = (
  manual: ReturnType<typeof manualAdapter>,
  status: 'ready' | 'reconnecting',
  detail: StatusDetail
) => manual.detailed(status, detail)

const tick = () => new Promise((resolve) => setImmediate(resolve))

describe('resumeDelayMs', () => {
  it('holds what queued during an outage, keeps later events behind it, and flushes in order', async () => {
    const name = uniqueKey('resume')
    fleet = await createFleet(2, { uri: `memory://${name}`, resumeDelayMs: 300 })
    const [sender, receiver] = fleet
    memoryBus(name).goOffline()
    for (let i = 0; i < 3; i++) await sender.app.service('todos').create({ marker: `m${i}` })
    memoryBus(name).goOnline()
    const back = Date.now()
    // Receiving works again at once; only the queue waits.
    expect(sender.app.sync.status).toBe('ready')
    await sender.app.service('todos').create({ marker: 'm3' })
    await tick()
    expect(sender.app.sync.stats().outbox.messages).toBe(4)
    expect(receiver.received).toHaveLength(0)
    await waitFor('the held events', () => receiver.received.length === 4)
    expect(Date.now() - back).toBeGreaterThanOrEqual(290)
    expect(receiver.received.map((r) => r.data.marker)).toEqual(['m0', 'm1', 'm2', 'm3'])
    expect(sender.app.sync.stats()).toMatchObject({ reconnects: 1, outbox: { messages: 0 } })
    // With nothing queued, a reconnect holds nothing.
    memoryBus(name).goOffline()
    memoryBus(name).goOnline()
    await sender.app.service('todos').create({ marker: 'm4' })
    await tick()
    expect(sender.app.sync.stats().outbox.messages).toBe(0)
  })

  it('does not hold on the first connect', async () => {
    const manual = manualAdapter(60_000)
    const member = createTestApp({ adapter: manual.adapter })
    fleet = [member]
    await member.app.service('todos').create({ marker: 'early' })
    expect(member.app.sync.stats().outbox.messages).toBe(1)
    manual.connected()
    await member.app.sync.ready
    expect(manual.sent).toHaveLength(1)
  })

  it("uses the adapter's default unless the option is set", async () => {
    for (const [option, held] of [
      [undefined, true],
      [0, false]
    ] as const) {
      const manual = manualAdapter(60_000)
      const member = createTestApp({ adapter: manual.adapter, resumeDelayMs: option })
      fleet.push(member)
      manual.connected()
      await member.app.sync.ready
      manual.status('reconnecting')
      await member.app.service('todos').create({ marker: 'queued' })
      manual.status('ready')
      expect(manual.sent).toHaveLength(held ? 0 : 1)
    }
  })

  it('keeps the hold under way when the connection flaps, so flapping cannot starve the queue', async () => {
    const manual = manualAdapter(300)
    const member = createTestApp({ adapter: manual.adapter })
    fleet = [member]
    manual.connected()
    await member.app.sync.ready
    manual.status('reconnecting')
    await member.app.service('todos').create({ marker: 'queued' })
    manual.status('ready')
    // The connection drops and comes back every 100 ms, 3 times per hold: a restarted hold never ends.
    for (let flap = 0; flap < 40 && manual.sent.length === 0; flap++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      manual.status('reconnecting')
      manual.status('ready')
    }
    expect(manual.sent).toHaveLength(1)
  })

  it('does not hold when only the publishing connection was lost (the subscription stayed up)', async () => {
    const manual = manualAdapter(60_000)
    const member = createTestApp({ adapter: manual.adapter })
    fleet = [member]
    manual.connected()
    await member.app.sync.ready
    manualStatus(manual, 'reconnecting', { subscriptionKept: true })
    await member.app.service('todos').create({ marker: 'queued' })
    expect(manual.sent).toHaveLength(0)
    manual.status('ready')
    expect(manual.sent).toHaveLength(1)
  })

  it('sends what is held at once when the app closes', async () => {
    const manual = manualAdapter(60_000)
    const member = createTestApp({ adapter: manual.adapter })
    manual.connected()
    await member.app.sync.ready
    manual.status('reconnecting')
    await member.app.service('todos').create({ marker: 'queued' })
    manual.status('ready')
    const started = Date.now()
    await member.app.teardown()
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(manual.sent).toHaveLength(1)
    expect(member.app.sync.stats().dropped.unsent).toBe(0)
  })

  it('is validated at configure time', () => {
    for (const bad of [-1, Number.NaN, Infinity, '100']) {
      const attempt = () => feathers().configure(sync({ uri: 'memory://x', resumeDelayMs: bad as number }))
      expect(attempt).toThrow(SyncConfigError)
      expect(attempt).toThrow(expect.objectContaining({ option: 'resumeDelayMs' }))
    }
    expect(() => sync({ uri: 'memory://x', resumeDelayMs: 0 })).not.toThrow()
  })
})
