/**
 * feathers-sync 3.1.1 and feathers-fanout on the same NATS subject see each other's events, both
 * ways. feathers-sync publishes UTF-8 JSON strings and reads every message as a string.
 */
import { feathers, type Application } from '@feathersjs/feathers'
import type { NatsConnection } from 'nats'
import { createTestApp, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'
import { expectLegacyEventsOnce, expectLegacySeesOurs, legacyTodos, type LegacySeen } from './helpers/interop'

// feathers-sync ships no types; this is the part of its API the tests use.
type FeathersSync = (options: Record<string, unknown>) => (app: Application) => void
const legacySync = require('feathers-sync') as FeathersSync

const url = process.env.FANOUT_NATS_URL
if (!url) throw new Error('FANOUT_NATS_URL is not set: run with FANOUT_BROKERS including nats')

interface LegacyApp {
  app: Application
  seen: LegacySeen
  connection: NatsConnection
}

const tcpHandles = (): number =>
  process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap').length

async function createLegacyApp(key: string): Promise<LegacyApp> {
  const app = feathers()
  // feathers-sync publishes through natsConnectionOptions alone, so the server must be listed there too.
  app.configure(legacySync({ uri: url, key, natsConnectionOptions: { servers: [url] } }))
  const seen = legacyTodos(app)
  const connection = (await (app as Application & { sync: { ready: Promise<NatsConnection> } }).sync
    .ready) as NatsConnection
  // Its `ready` resolves before the server has the subscription; a flush makes sure.
  await connection.flush()
  return { app, seen, connection }
}

describe('interop with feathers-sync 3.1.1 over NATS', () => {
  let ours: TestApp[] = []
  let legacy: LegacyApp | undefined
  let baseline = 0

  beforeEach(() => {
    baseline = tcpHandles()
  })

  afterEach(async () => {
    await teardownFleet(ours)
    ours = []
    await legacy?.connection.close()
    legacy = undefined
    // feathers-sync opens and drains a connection per event it publishes; wait until they are gone.
    await waitFor('the connections of both libraries to close', () => tcpHandles() <= baseline)
  })

  it('a feathers-sync instance receives the events of ours, standard and custom', async () => {
    const key = uniqueKey('nats-interop')
    legacy = await createLegacyApp(key)
    const app = createTestApp({ uri: url, key })
    ours = [app]
    await app.app.sync.ready
    await expectLegacySeesOurs(app, legacy)
  })

  it('our instances receive the events of a feathers-sync instance exactly once', async () => {
    const key = uniqueKey('nats-interop')
    legacy = await createLegacyApp(key)
    ours = [createTestApp({ uri: url, key }), createTestApp({ uri: url, key, serializer: 'json' })]
    await Promise.all(ours.map(({ app }) => app.sync.ready))
    await expectLegacyEventsOnce(ours, legacy)
  })

  it("feathers-sync style serialize/deserialize functions get the broker's bytes as a Buffer they can parse", async () => {
    const key = uniqueKey('nats-interop')
    const payloads: unknown[] = []
    // Written the feathers-sync way: toString() gives the JSON text only when the payload is a Buffer.
    const deserialize = (payload: string | Uint8Array) => {
      payloads.push(payload)
      return JSON.parse(payload.toString())
    }
    const options = { uri: url, key, serialize: JSON.stringify, deserialize }
    ours = [createTestApp(options), createTestApp(options)]
    await Promise.all(ours.map(({ app }) => app.sync.ready))
    const marker = uniqueKey('custom-serializer')
    await ours[0].app.service('todos').create({ marker })
    await waitFor('the event on the other app', () => ours[1].seen('created', marker).length === 1)
    expect(ours[1].errors).toEqual([])
    expect(payloads.length).toBeGreaterThan(0)
    expect(payloads.every((payload) => Buffer.isBuffer(payload))).toBe(true)
  })
})
