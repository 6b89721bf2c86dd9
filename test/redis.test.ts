/**
 * The Redis adapter against a real redis-server: the conformance suite (JSON and bson), interop with
 * feathers-sync 3.1.1 in both directions, clients of the user's, credentials and option checks.
 */
import { feathers, type Application } from '@feathersjs/feathers'
import { MemoryService } from '@feathersjs/memory'
import { Redis } from 'ioredis'
import { sync, SyncConfigError, SyncConnectionError, type SyncOptions } from '../src/index'
import { redisCommand, startRedis, type BrokerHandle } from './brokers'
import { conformanceSuite } from './conformance'
import {
  barrier,
  createFleet,
  createTestApp,
  teardownFleet,
  uniqueKey,
  waitFor,
  type TestApp
} from './helpers/apps'

const REDIS_URL = process.env.FANOUT_REDIS_URL ?? ''
// The harness convention: a file whose broker was not requested (FANOUT_BROKERS) does not run.
const describeRedis = REDIS_URL ? describe : describe.skip

interface LegacySyncInfo {
  ready: Promise<unknown>
  pub: { close(): Promise<void> }
  sub: { close(): Promise<void> }
}
type LegacySync = (options: { uri: string; key: string }) => (app: Application) => void

/** An app on feathers-sync 3.1.1 itself, as users run it today (node-redis v5 inside). */
function createLegacyApp(key: string): {
  app: Application
  seen: (event: string, marker: string) => unknown[]
} {
  const legacySync = require('feathers-sync') as LegacySync
  const app = feathers()
  app.configure(legacySync({ uri: REDIS_URL, key }))
  app.use('todos', new MemoryService({ multi: true }), { events: ['status'] })
  const received: { event: string; data: { marker?: string } }[] = []
  for (const event of ['created', 'patched', 'status']) {
    app.service('todos').on(event, (data: { marker?: string }) => received.push({ event, data }))
  }
  return {
    app,
    seen: (event, marker) => received.filter((r) => r.event === event && r.data.marker === marker)
  }
}

const legacyInfo = (app: Application): LegacySyncInfo => (app as unknown as { sync: LegacySyncInfo }).sync

describeRedis('redis adapter', () => {
  let raw: Redis

  beforeAll(async () => {
    raw = new Redis(REDIS_URL, { lazyConnect: true })
    await raw.connect()
  })
  afterAll(async () => {
    await raw.quit()
  })

  conformanceSuite({
    name: 'redis',
    options: (key) => ({ uri: REDIS_URL, key }),
    publishRaw: async (key, payload) => {
      await raw.publish(key, payload)
    }
  })

  describe('interop with feathers-sync 3.1.1 on the same Redis and key', () => {
    let fleet: TestApp[] = []
    let legacy: Application | undefined

    afterEach(async () => {
      await teardownFleet(fleet)
      fleet = []
      if (legacy) {
        const { pub, sub } = legacyInfo(legacy)
        await Promise.all([pub.close(), sub.close()])
        legacy = undefined
      }
    })

    it('feathers-sync instances receive our events, standard and custom', async () => {
      const key = uniqueKey('interop-out')
      const them = createLegacyApp(key)
      legacy = them.app
      await legacyInfo(them.app).ready
      fleet = await createFleet(1, { uri: REDIS_URL, key })
      const [ours] = fleet
      const marker = uniqueKey('ours')
      const item = await ours.app.service('todos').create({ marker })
      await ours.app.service('todos').patch(item.id, { text: 'patched' })
      ours.app.service('todos').emit('status', { marker })
      await waitFor('feathers-sync to see our three events', () =>
        ['created', 'patched', 'status'].every((event) => them.seen(event, marker).length === 1)
      )
      // Redis keeps one publisher's order: once a later marker is there, no second copy is coming.
      const end = uniqueKey('end')
      ours.app.service('todos').emit('status', { marker: end })
      await waitFor('the end marker', () => them.seen('status', end).length === 1)
      for (const event of ['created', 'patched', 'status']) expect(them.seen(event, marker)).toHaveLength(1)
    })

    it('we receive events published by feathers-sync instances, once each', async () => {
      const key = uniqueKey('interop-in')
      const them = createLegacyApp(key)
      legacy = them.app
      await legacyInfo(them.app).ready
      fleet = await createFleet(2, { uri: REDIS_URL, key })
      const marker = uniqueKey('theirs')
      await them.app.service('todos').create({ marker }, { provider: 'rest' })
      them.app.service('todos').emit('status', { marker })
      await waitFor('our apps to see the feathers-sync events', () =>
        fleet.every(
          (member) =>
            member.seen('created', marker).length === 1 && member.seen('status', marker).length === 1
        )
      )
      const [created] = fleet[0].seen('created', marker)
      // feathers-sync messages carry no sender or id; the context is rebuilt from what it sent.
      expect(created.context.remote).toEqual({ instanceId: null, messageId: null })
      expect(created.context.params.provider).toBe('rest')
      // A marker after them proves nothing was delivered twice in the meantime.
      await barrier(fleet, fleet[0])
      for (const member of fleet) expect(member.seen('created', marker)).toHaveLength(1)
      expect(fleet[1].app.sync.stats().dropped.duplicate).toBe(0)
    })
  })

  describe('connections, on a private Redis with an ACL user', () => {
    let fleet: TestApp[] = []
    let broker: BrokerHandle
    // The default user stays open so the harness can probe; the apps log in as "app".
    const acl = ['--user', 'app', 'on', '>s3cr3t-pw', '~*', '&*', '+@all']
    const clients = async () =>
      (await redisCommand(broker.port, ['CLIENT', 'LIST']))
        .split('\n')
        .filter((line) => line.includes('user=app'))

    beforeAll(async () => {
      broker = await startRedis({ extraArgs: acl })
    })
    afterAll(async () => {
      await broker.stop()
    })
    afterEach(async () => {
      await teardownFleet(fleet)
      fleet = []
    })

    it('keeps one publisher and one subscriber connection per instance, however many events', async () => {
      fleet = await createFleet(2, {
        uri: `redis://app:s3cr3t-pw@127.0.0.1:${broker.port}`,
        key: uniqueKey('conn')
      })
      const todos = fleet[0].app.service('todos')
      await Promise.all(Array.from({ length: 200 }, (_, i) => todos.create({ marker: 'burst', i })))
      await barrier(fleet, fleet[0])
      expect(fleet[1].seen('created', 'burst')).toHaveLength(200)
      expect(await clients()).toHaveLength(4)
      await teardownFleet(fleet)
      let open = await clients()
      for (let i = 0; i < 100 && open.length > 0; i++) open = await clients()
      expect(open).toHaveLength(0)
    })

    it('publishes through a redisClient of yours, subscribes on a duplicate, and closes only that', async () => {
      const client = new Redis(`redis://app:s3cr3t-pw@127.0.0.1:${broker.port}`, { lazyConnect: true })
      await client.connect()
      // No uri: the client alone selects the Redis adapter, as with feathers-sync.
      fleet = await createFleet(2, { redisClient: client, key: uniqueKey('client') })
      expect(fleet[0].app.sync.type).toBe('redis')
      const marker = uniqueKey('client')
      await fleet[0].app.service('todos').create({ marker })
      await waitFor('the event on the other app', () => fleet[1].seen('created', marker).length === 1)
      // Your client publishes for both apps; each app adds one subscriber.
      expect(await clients()).toHaveLength(3)
      await teardownFleet(fleet)
      let open = await clients()
      for (let i = 0; i < 100 && open.length > 1; i++) open = await clients()
      expect(open).toHaveLength(1)
      expect(client.status).toBe('ready')
      expect(await client.ping()).toBe('PONG')
      await client.quit()
    })

    it('authenticates with the credentials in the uri, and never shows the password in errors', async () => {
      const key = uniqueKey('auth')
      fleet = await createFleet(2, { uri: `redis://app:s3cr3t-pw@127.0.0.1:${broker.port}/0`, key })
      const marker = uniqueKey('auth')
      await fleet[0].app.service('todos').create({ marker })
      await waitFor('the authenticated event', () => fleet[1].seen('created', marker).length === 1)

      const wrong = createTestApp({
        uri: `redis://app:wrong-pw@127.0.0.1:${broker.port}`,
        key,
        connectTimeoutMs: 300
      })
      fleet.push(wrong)
      const error = await wrong.app.sync.ready.then(
        () => undefined,
        (reason: unknown) => reason
      )
      expect(error).toBeInstanceOf(SyncConnectionError)
      await waitFor('the auth failure to be reported', () => wrong.errors.length >= 2)
      for (const reported of [error as Error, ...wrong.errors]) {
        expect(reported.message).toContain(`127.0.0.1:${broker.port}`)
        expect(reported.message).not.toContain('wrong-pw')
      }
      expect(wrong.errors.some((reported) => /WRONGPASS/.test(reported.message))).toBe(true)
    })
  })

  describe('options, checked at configure time', () => {
    const configure = (options: SyncOptions) => () => feathers().configure(sync(options))

    it('names the bad option', () => {
      const cases: [SyncOptions, string][] = [
        [{ uri: REDIS_URL, sharded: 'yes' as unknown as boolean }, 'sharded'],
        [{ redisClient: { publish: () => 1 } as unknown as Redis }, 'redisClient'],
        [{ uri: REDIS_URL, clusterNodes: [{ host: '127.0.0.1', port: 7000 }] }, 'clusterNodes'],
        [{ clusterNodes: [] }, 'clusterNodes'],
        [{ uri: REDIS_URL, redisOptions: 'port=1' as never }, 'redisOptions']
      ]
      for (const [options, option] of cases) {
        expect(configure(options)).toThrow(expect.objectContaining({ name: 'SyncConfigError', option }))
      }
    })

    it('rejects a uri it cannot parse without echoing the password', () => {
      const attempt = configure({ uri: 'redis://:hunter2@[not-a-host' })
      expect(attempt).toThrow(SyncConfigError)
      expect(attempt).toThrow(/\*\*\*@/)
      expect(attempt).not.toThrow(/hunter2/)
    })

    it('refuses a node-redis client (feathers-sync style) with a message that says what to pass', () => {
      const nodeRedis = { duplicate: () => ({}), publish: () => 1, isOpen: false }
      expect(configure({ redisClient: nodeRedis as unknown as Redis })).toThrow(
        /ioredis Redis or Cluster client/
      )
    })
  })
})
