/** NATS adapter options, connections handed in by the user, credentials and the server's max_payload. */
import { feathers } from '@feathersjs/feathers'
import { connect } from 'nats'
import { inspect } from 'node:util'
import { createNatsAdapter } from '../adapters/nats'
import { parseOptions } from '../src/engine/options'
import { sync, SyncConfigError, SyncConnectionError, SyncError, type SyncOptions } from '../src/index'
import { freePort, startNats, type BrokerHandle } from './brokers'
import {
  barrier,
  createFleet,
  createTestApp,
  teardownFleet,
  uniqueKey,
  waitFor,
  type TestApp
} from './helpers/apps'

const url = process.env.FANOUT_NATS_URL
if (!url) throw new Error('FANOUT_NATS_URL is not set: run with FANOUT_BROKERS including nats')

let fleet: TestApp[] = []
let brokers: BrokerHandle[] = []

afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
  await Promise.all(brokers.map((broker) => broker.stop()))
  brokers = []
})

describe('nats options, checked when the app is configured', () => {
  const configure = (options: SyncOptions) => () => feathers().configure(sync.nats(options))
  const rejects = (options: SyncOptions, option: string) => {
    expect(configure(options)).toThrow(SyncConfigError)
    expect(configure(options)).toThrow(expect.objectContaining({ option }))
  }

  it('names the bad option', () => {
    rejects({ uri: 'redis://127.0.0.1:6379' }, 'uri')
    rejects({ uri: 'nats://' }, 'uri')
    rejects({ natsConnectionOptions: 'nats://127.0.0.1' as never }, 'natsConnectionOptions')
    rejects({ natsConnectionOptions: { servers: 42 as never } }, 'natsConnectionOptions.servers')
    rejects({ natsConnectionOptions: { servers: ['nats://'] } }, 'natsConnectionOptions.servers')
    rejects({ natsConnectionOptions: { port: 4222 } }, 'natsConnectionOptions.port')
    rejects({ uri: url, key: 'todos.*' }, 'key')
    rejects({ uri: url, key: 'two words' }, 'key')
    rejects({ natsConnection: {} as never }, 'natsConnection')
    rejects({ uri: url, resumeDelayMs: -1 }, 'resumeDelayMs')
    rejects({ uri: url, confirmPublish: 'yes' as never }, 'confirmPublish')
    rejects({ uri: url, natsResubscribeIntervalMs: 0 }, 'natsResubscribeIntervalMs')
    rejects({ uri: url, natsResubscribeIntervalMs: 2 ** 31 }, 'natsResubscribeIntervalMs')
    rejects({ uri: url, natsConnectionOptions: { pingInterval: 0 } }, 'natsConnectionOptions.pingInterval')
    rejects(
      { uri: url, natsConnectionOptions: { pingInterval: '2s' as never } },
      'natsConnectionOptions.pingInterval'
    )
    rejects({ uri: url, natsConnectionOptions: { maxPingOut: 0 } }, 'natsConnectionOptions.maxPingOut')
    rejects({ uri: url, natsConnectionOptions: { maxPingOut: 1.5 } }, 'natsConnectionOptions.maxPingOut')
  })

  it('refuses a connection together with connection options, and never shows a password in an error', async () => {
    const nc = await connect({ servers: url })
    try {
      rejects({ natsConnection: nc, natsConnectionOptions: {} }, 'natsConnectionOptions')
    } finally {
      await nc.close()
    }
    expect(configure({ uri: 'nats://bob:hunter2@' })).toThrow(/\/\/\*\*\*@/)
    expect(configure({ uri: 'nats://bob:hunter2@' })).not.toThrow(/hunter2/)
  })

  it('does not guess NATS from tls:// in sync(); sync.nats() takes it as "TLS required"', async () => {
    expect(() => sync({ uri: 'tls://127.0.0.1:4222' })).toThrow(/No adapter for URI scheme "tls:"/)
    // The shared server offers no TLS, so a tls:// uri must not connect in clear text.
    const app = feathers()
    const errors: SyncError[] = []
    app.on('sync-error', (error: SyncError) => errors.push(error))
    app.configure(
      sync.nats({ uri: url.replace('nats:', 'tls:'), key: uniqueKey('nats-tls'), connectTimeoutMs: 300 })
    )
    try {
      await expect(app.sync.ready).rejects.toBeInstanceOf(SyncConnectionError)
      // `ready` gives up after 300 ms, maybe before a loaded machine finished the first attempt; the
      // attempts go on, and the first one that fails says why.
      await waitFor(
        () => `a sync-error naming TLS (got: ${errors.map((error) => error.message).join('; ') || 'none'})`,
        () => errors.some((error) => /tls/i.test(error.message))
      )
    } finally {
      await app.teardown()
    }
  })

  it('merges uri and servers without duplicates, and its target shows host:port only', () => {
    const natsConnectionOptions = {
      servers: ['10.0.0.1:4222', 'nats://10.0.0.2', 'nats://carol:pw@10.0.0.1:4222']
    }
    const before = structuredClone(natsConnectionOptions)
    const adapter = createNatsAdapter(
      parseOptions({ uri: 'nats://alice:s3cret@10.0.0.1:4222', natsConnectionOptions })
    )
    expect(adapter.target).toBe('10.0.0.1:4222,10.0.0.2:4222')
    expect(natsConnectionOptions).toEqual(before)
    expect(createNatsAdapter(parseOptions({})).target).toBe('127.0.0.1:4222')
  })
})

describe('nats connections', () => {
  it('connects through any merged server: a dead uri plus a live entry in servers', async () => {
    const dead = `nats://127.0.0.1:${await freePort()}`
    const key = uniqueKey('nats-merge')
    fleet = await createFleet(2, { uri: dead, key, natsConnectionOptions: { servers: [url] } })
    const marker = uniqueKey('merged')
    await fleet[0].app.service('todos').create({ marker })
    await waitFor('the event', () => fleet[1].seen('created', marker).length === 1)
  })

  it('uses a connection the user passed in, and on teardown removes only its subscription', async () => {
    const nc = await connect({ servers: url })
    try {
      const key = uniqueKey('nats-own')
      const mine = createTestApp({ natsConnection: nc, key })
      const others = [createTestApp({ uri: url, key }), createTestApp({ uri: url, key })]
      fleet = [mine, ...others]
      await Promise.all(fleet.map(({ app }) => app.sync.ready))
      expect(mine.app.sync.type).toBe('nats')
      await barrier(fleet, mine)
      await barrier(fleet, others[0])

      await mine.app.teardown()
      expect(nc.isClosed()).toBe(false)
      await nc.flush()
      const inBefore = nc.stats().inMsgs
      await barrier(others, others[0])
      // The server answers a flush only after everything it routed to this connection before.
      await nc.flush()
      expect(nc.stats().inMsgs).toBe(inBefore)
    } finally {
      await nc.close()
    }
  })

  it('reports a user connection closed under it, keeps events local and does not crash', async () => {
    const nc = await connect({ servers: url })
    const app = createTestApp({ natsConnection: nc, key: uniqueKey('nats-closed') })
    fleet = [app]
    await app.app.sync.ready
    await nc.close()
    await waitFor('the app to notice', () => app.app.sync.status === 'reconnecting')
    expect(
      app.errors.some((error) => error instanceof SyncConnectionError && /closed/.test(error.message))
    ).toBe(true)
    const marker = uniqueKey('local')
    await app.app.service('todos').create({ marker })
    expect(app.seen('created', marker)).toHaveLength(1)
  })

  it('authenticates with the credentials in the uri, and reports refused ones without showing them', async () => {
    const broker = await startNats({
      jetstream: false,
      config: 'authorization { user: alice, password: "right-pw" }'
    })
    brokers.push(broker)
    const key = uniqueKey('nats-auth')
    const good = `nats://alice:right-pw@127.0.0.1:${broker.port}`
    fleet = await createFleet(2, { uri: good, key })
    const bad = createTestApp({
      uri: `nats://alice:wrong-pw@127.0.0.1:${broker.port}`,
      key,
      connectTimeoutMs: 500
    })
    fleet.push(bad)
    await expect(bad.app.sync.ready).rejects.toBeInstanceOf(SyncConnectionError)
    await waitFor(
      () => `the authorization violation reported (got: ${bad.errors.map((e) => e.message).join('; ')})`,
      () => bad.errors.some((error) => /authorization violation/i.test(error.message))
    )
    for (const error of bad.errors) {
      expect(error.message).toContain(`127.0.0.1:${broker.port}`)
      expect(inspect(error, { depth: 10 })).not.toMatch(/alice|wrong-pw/)
    }
    const marker = uniqueKey('auth')
    await fleet[0].app.service('todos').create({ marker })
    await waitFor('the event', () => fleet[1].seen('created', marker).length === 1)
  })
})

describe("nats: the server's max_payload", () => {
  it('refuses a larger message with a typed error naming size and limit, counts it, and keeps the connection', async () => {
    const broker = await startNats({ jetstream: false, config: 'max_payload: 1024' })
    brokers.push(broker)
    fleet = await createFleet(2, { uri: broker.url, key: uniqueKey('nats-big') })
    const [sender, receiver] = fleet
    const marker = uniqueKey('big')
    sender.app.service('todos').emit('status', { marker, blob: 'x'.repeat(2_000) })
    await waitFor('the oversize report', () => sender.errors.length > 0)
    const [error] = sender.errors as (SyncError & { size?: number; limit?: number })[]
    expect(error).toBeInstanceOf(SyncError)
    expect(error.code).toBe('SYNC_OVERSIZE')
    expect(error.limit).toBe(1024)
    expect(error.size).toBeGreaterThan(2_000)
    expect(error.message).toContain(String(error.size))
    expect(error.message).toContain('1024')
    expect(error.message).toContain(`127.0.0.1:${broker.port}`)
    expect(sender.app.sync.stats()).toMatchObject({ publishErrors: 0, dropped: { oversize: 1 } })
    // The local listener still had it; the connection lives on and the next event goes through.
    expect(sender.seen('status', marker)).toHaveLength(1)
    await barrier(fleet, sender)
    expect(receiver.seen('status', marker)).toHaveLength(0)
    expect(sender.app.sync.status).toBe('ready')
    expect(sender.app.sync.stats().reconnects).toBe(0)
  })
})
