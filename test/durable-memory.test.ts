/**
 * Durable delivery end to end through Feathers apps on the in-process adapter: what an instance that was
 * away missed, named positions, gaps, and the durable policy with signing on.
 */
import type { SyncGap } from '../src/engine/durable'
import { memoryBus } from '../src/index'
import { createFleet, createTestApp, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'

let fleet: TestApp[] = []
afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
})

const markers = (app: TestApp, marker: string) =>
  app.received.filter((r) => r.data?.marker === marker).map((r) => r.data.n)

async function createMany(app: TestApp, marker: string, count: number): Promise<void> {
  for (let n = 0; n < count; n++) await app.app.service('todos').create({ marker, n })
}

describe('durable delivery on the memory adapter', () => {
  it('gives a named instance restarted after an absence every event it missed, once and in order', async () => {
    const bus = uniqueKey('durable')
    const options = { uri: `memory://${bus}`, key: 'k' }
    const [sender] = (fleet = await createFleet(1, { ...options, durable: true }))
    let away = createTestApp({ ...options, durable: { consumerName: 'web-2' } })
    await away.app.sync.ready
    await createMany(sender, 'before', 3)
    await waitFor('the first events', () => markers(away, 'before').length === 3)
    await away.app.teardown()
    await createMany(sender, 'missed', 5)
    away = createTestApp({ ...options, durable: { consumerName: 'web-2' } })
    fleet.push(away)
    await away.app.sync.ready
    await waitFor('the missed events', () => markers(away, 'missed').length === 5)
    expect(markers(away, 'missed')).toEqual([0, 1, 2, 3, 4])
    expect(markers(away, 'before')).toEqual([])
    expect(away.errors).toEqual([])
  })

  it('starts an unnamed instance at the tail', async () => {
    const bus = uniqueKey('durable-tail')
    const options = { uri: `memory://${bus}`, key: 'k', durable: true }
    const [sender] = (fleet = await createFleet(1, options))
    await createMany(sender, 'old', 2)
    const late = createTestApp(options)
    fleet.push(late)
    await late.app.sync.ready
    await createMany(sender, 'new', 2)
    await waitFor('the new events', () => markers(late, 'new').length === 2)
    expect(markers(late, 'old')).toEqual([])
  })

  it('delivers what queued during an outage as soon as the bus is back, with no hold', async () => {
    const bus = uniqueKey('durable-outage')
    const [sender, receiver] = (fleet = await createFleet(2, {
      uri: `memory://${bus}`,
      key: 'k',
      durable: true,
      resumeDelayMs: 60_000
    }))
    memoryBus(bus).goOffline()
    await createMany(sender, 'queued', 4)
    expect(sender.app.sync.stats().outbox.messages).toBe(4)
    memoryBus(bus).goOnline()
    await waitFor('the queued events', () => markers(receiver, 'queued').length === 4)
    expect(markers(receiver, 'queued')).toEqual([0, 1, 2, 3])
  })

  it('reports a gap with the exact count when retention dropped events before a named instance read them', async () => {
    const bus = uniqueKey('durable-gap')
    const options = { uri: `memory://${bus}`, key: 'k' }
    const [sender] = (fleet = await createFleet(1, { ...options, durable: { maxMessages: 3 } }))
    let away = createTestApp({ ...options, durable: { maxMessages: 3, consumerName: 'web-3' } })
    await away.app.sync.ready
    await createMany(sender, 'seen', 1)
    await waitFor('the first event', () => markers(away, 'seen').length === 1)
    await away.app.teardown()
    await createMany(sender, 'gone', 10)
    const gaps: SyncGap[] = []
    away = createTestApp({ ...options, durable: { maxMessages: 3, consumerName: 'web-3' } })
    away.app.on('sync-gap', (gap: SyncGap) => gaps.push(gap))
    fleet.push(away)
    await away.app.sync.ready
    await waitFor('the retained events', () => markers(away, 'gone').length === 3)
    expect(markers(away, 'gone')).toEqual([7, 8, 9])
    expect(gaps).toEqual([{ channel: 'k', after: '1', firstAvailable: '9', missing: 7, reason: 'retention' }])
    expect(away.app.sync.stats().gaps).toEqual({ reported: 1, missing: 7 })
  })

  it('with secrets, delivers an event read back later than maxMessageAgeMs (not stale in durable mode)', async () => {
    const bus = uniqueKey('durable-signed')
    const secrets = ['durable-memory-secret-of-32-bytes!!']
    const options = { uri: `memory://${bus}`, key: 'k', secrets, maxMessageAgeMs: 50 }
    const [sender] = (fleet = await createFleet(1, { ...options, durable: true }))
    let away = createTestApp({ ...options, durable: { consumerName: 'web-4' } })
    await away.app.sync.ready
    await createMany(sender, 'warm', 1)
    await waitFor('the first event', () => markers(away, 'warm').length === 1)
    await away.app.teardown()
    await createMany(sender, 'old', 2)
    // Older than maxMessageAgeMs by the time it is read: plain pub/sub would drop it as stale.
    await new Promise((resolve) => setTimeout(resolve, 120))
    away = createTestApp({ ...options, durable: { consumerName: 'web-4' } })
    fleet.push(away)
    await away.app.sync.ready
    await waitFor('the old events', () => markers(away, 'old').length === 2)
    expect(away.app.sync.stats().dropped).toMatchObject({ stale: 0, replayed: 0 })
    expect(away.errors).toEqual([])
  })
})
