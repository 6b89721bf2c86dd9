/**
 * feathers-sync 3.1.1 and feathers-fanout on the same RabbitMQ exchange see each other's events, both
 * ways, whichever of them declared the exchange first. feathers-sync publishes UTF-8 JSON without a
 * content type and hands every message up as a Buffer.
 */
import { feathers, type Application } from '@feathersjs/feathers'
import { barrier, createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'
import { expectLegacyEventsOnce, expectLegacySeesOurs, legacyTodos, type LegacySeen } from './helpers/interop'

// feathers-sync ships no types; this is the part of its API the tests use.
type FeathersSync = (options: Record<string, unknown>) => (app: Application) => void
const legacySync = require('feathers-sync') as FeathersSync

const url = process.env.FANOUT_AMQP_URL
if (!url) throw new Error('FANOUT_AMQP_URL is not set: run with FANOUT_BROKERS including rabbitmq')

interface LegacyApp {
  app: Application
  seen: LegacySeen
  close(): Promise<void>
}

interface LegacySyncInfo {
  ready: Promise<unknown>
  connection: { close(): Promise<void> }
}

const tcpHandles = (): number =>
  process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap').length

async function createLegacyApp(key: string): Promise<LegacyApp> {
  const app = feathers()
  app.configure(legacySync({ uri: url, key }))
  const seen = legacyTodos(app)
  const info = (app as unknown as { sync: LegacySyncInfo }).sync
  await info.ready
  return { app, seen, close: () => info.connection.close() }
}

/**
 * feathers-sync's `ready` resolves before its consumer is registered (it does not await `consume`):
 * our app sends probes until one comes through, so later events cannot arrive before it listens.
 */
async function untilLegacyListens(sender: TestApp, legacy: LegacyApp): Promise<void> {
  const probe = uniqueKey('probe')
  for (let attempt = 0; attempt < 50; attempt++) {
    sender.app.service('todos').emit('status', { marker: probe })
    try {
      await waitFor('a probe at feathers-sync', () => legacy.seen.some((s) => s.data.marker === probe), 100)
      return
    } catch {
      // Not listening yet: send another.
    }
  }
  throw new Error('feathers-sync never received a probe')
}

describe('interop with feathers-sync 3.1.1 over RabbitMQ', () => {
  let ours: TestApp[] = []
  let legacy: LegacyApp | undefined
  let baseline = 0

  beforeEach(() => {
    baseline = tcpHandles()
  })

  afterEach(async () => {
    await teardownFleet(ours)
    ours = []
    await legacy?.close()
    legacy = undefined
    await waitFor('the connections of both libraries to close', () => tcpHandles() <= baseline)
  })

  it('a feathers-sync instance that declared the exchange receives our events, standard and custom', async () => {
    const key = uniqueKey('amqp-interop')
    legacy = await createLegacyApp(key)
    ours = await createFleet(1, { uri: url, key })
    const [sender] = ours
    await untilLegacyListens(sender, legacy)
    await expectLegacySeesOurs(sender, legacy)
  })

  it('our instances, which declared the exchange, receive the events of a feathers-sync instance exactly once', async () => {
    const key = uniqueKey('amqp-interop')
    ours = await createFleet(2, { uri: url, key })
    legacy = await createLegacyApp(key)
    await untilLegacyListens(ours[0], legacy)
    await expectLegacyEventsOnce(ours, legacy)
  })

  it('a mixed fleet shares one exchange: everyone sees everyone, once', async () => {
    const key = uniqueKey('amqp-interop')
    ours = await createFleet(2, { uri: url, key })
    legacy = await createLegacyApp(key)
    await untilLegacyListens(ours[0], legacy)
    const [first, second] = ours
    const fromUs = uniqueKey('from-us')
    const fromThem = uniqueKey('from-them')
    await first.app.service('todos').create({ marker: fromUs })
    await legacy.app.service('todos').create({ marker: fromThem })
    await waitFor(
      'everyone to see both events',
      () =>
        second.seen('created', fromUs).length === 1 &&
        ours.every((o) => o.seen('created', fromThem).length === 1) &&
        legacy?.seen.filter((s) => s.event === 'created' && s.data.marker === fromUs).length === 1
    )
    await barrier(ours, second)
    expect(first.seen('created', fromUs)).toHaveLength(1)
    expect(second.seen('created', fromUs)).toHaveLength(1)
    expect(legacy.seen.filter((s) => s.data.marker === fromUs)).toHaveLength(1)
    expect(ours.flatMap((o) => o.errors)).toEqual([])
  })
})
