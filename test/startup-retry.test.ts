/**
 * A subscribe step that fails at startup for a reason that can pass (the broker refusing a read for a
 * moment, the connection closed in the middle of setting up) is tried again until it succeeds: the
 * instance becomes ready once the broker lets it, instead of staying down with `ready` rejected for good.
 * Here Redis refuses `XINFO` (read to find the stream's tail) to the app's ACL user until the test
 * allows it. A private redis-server, since the test changes its users.
 */
import { startRedis, redisCommand, type BrokerHandle } from './brokers'
import { createTestApp, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'
import { describing } from './helpers/fleet-state'

jest.setTimeout(60_000)

// The app's user may run everything but XINFO; the default user stays open for the harness.
const ACL = ['--user', 'app', 'on', '>start-pw', '~*', '&*', '+@all', '-xinfo']

let broker: BrokerHandle | undefined
let fleet: TestApp[] = []
const about = (what: string) => describing(what, () => fleet, ['refused at first', 'publisher'])

afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
  await broker?.stop()
  broker = undefined
})

describe('startup: a subscribe step refused for a while', () => {
  it('keeps trying, says why while not ready, and becomes ready once the broker allows it', async () => {
    broker = await startRedis({ extraArgs: ACL })
    const key = uniqueKey('startup-retry')
    const common = { key, durable: true, errorReportIntervalMs: 0, includeResult: false }
    const refused = createTestApp({
      ...common,
      uri: `redis://app:start-pw@127.0.0.1:${broker.port}`,
      // Room for the first refused XINFO (a local connect and one round trip) on a slow machine.
      connectTimeoutMs: 3_000
    })
    const publisher = createTestApp({ ...common, uri: broker.url })
    fleet = [refused, publisher]
    await publisher.app.sync.ready
    // Past the readiness timeout the app hears why it is not ready yet: the refused command.
    await expect(refused.app.sync.ready).rejects.toThrow(/still trying.*NOPERM/s)
    expect(refused.app.sync.status).not.toBe('ready')

    expect(await redisCommand(broker.port, ['ACL', 'SETUSER', 'app', '+xinfo'])).toBe('OK')
    await waitFor(about('the refused instance to become ready'), () => refused.app.sync.status === 'ready')
    await publisher.app.service('todos').create({ marker: 'after' })
    await waitFor(about('an event after startup'), () => refused.seen('created', 'after').length === 1)
  })
})
