import { createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from '../helpers/apps'
import { memoryBus } from '../../src/index'

let fleet: TestApp[] = []
afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
})

describe('app.sync.health()', () => {
  it('answers readiness and liveness, with the last message age and the outbox fill', async () => {
    const name = uniqueKey('health')
    const key = uniqueKey('health-key')
    fleet = await createFleet(2, { uri: `memory://${name}`, key, outbox: { maxMessages: 4 } })
    const [sender, receiver] = fleet
    const before = receiver.app.sync.health()
    expect(before).toMatchObject({
      status: 'ready',
      ready: true,
      live: true,
      lastMessageAgeMs: null,
      outbox: { messages: 0, bytes: 0, fill: 0 },
      adapter: 'memory',
      instanceId: receiver.app.sync.instanceId
    })
    await sender.app.service('todos').create({ marker: 'h' })
    await waitFor('the event', () => receiver.seen('created', 'h').length === 1)
    expect(receiver.app.sync.health().lastMessageAgeMs).toBeGreaterThanOrEqual(0)

    // The broker goes away: not ready, still live, and the outbox fills.
    memoryBus(name).goOffline()
    await waitFor('reconnecting', () => sender.app.sync.status === 'reconnecting')
    await sender.app.service('todos').create({ marker: 'queued-1' })
    await sender.app.service('todos').create({ marker: 'queued-2' })
    const away = sender.app.sync.health()
    expect(away).toMatchObject({ status: 'reconnecting', ready: false, live: true })
    expect(away.outbox.messages).toBe(2)
    expect(away.outbox.fill).toBe(0.5)
    memoryBus(name).goOnline()
    await waitFor('ready again', () => sender.app.sync.health().ready)

    await sender.app.teardown()
    expect(sender.app.sync.health()).toMatchObject({ status: 'closed', ready: false, live: false })
  })
})
