/**
 * The Redis adapter when Redis goes away: SIGKILL and restart mid-stream, a Redis that is not there
 * yet at startup, and closing while it is unreachable. Every test runs its own redis-server.
 */
import { SyncConnectionError } from '../src/index'
import { freePort, startRedis, type BrokerHandle } from './brokers'
import {
  barrier,
  createFleet,
  createTestApp,
  teardownFleet,
  uniqueKey,
  waitFor,
  type TestApp
} from './helpers/apps'
import { describing } from './helpers/fleet-state'
import { startGate, type Gate } from './helpers/gate'

const tcpHandles = (): number =>
  process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap' || kind === 'TCPWRAP').length

// An app whose user is "app" with this password; the default user stays open for the harness probe.
const ACL = ['--user', 'app', 'on', '>hunter2-pw', '~*', '&*', '+@all']

let fleet: TestApp[] = []
// On timeout, every instance's status and counters are in the message.
const about = (what: string) => describing(what, () => fleet)
let broker: BrokerHandle | undefined
let gate: Gate | undefined

afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
  await gate?.close()
  await broker?.stop()
  gate = undefined
  broker = undefined
})

const ids = (app: TestApp, marker: string): number[] =>
  app
    .seen('created', marker)
    .map(({ data }) => data.i as number)
    .sort((a, b) => a - b)
const range = (count: number): number[] => Array.from({ length: count }, (_, i) => i)

describe('redis outages', () => {
  // feathers-sync #194: an unhandled Redis error crashed the app. Here Redis dies twice under load.
  it('survives SIGKILL and restart mid-stream: resubscribes once, flushes the outage queue, delivers once', async () => {
    broker = await startRedis()
    gate = await startGate(broker.port)
    const key = uniqueKey('outage')
    const receivers = await createFleet(2, { uri: broker.url, key })
    // The sender reaches Redis through the gate: Redis keeps nothing for absent subscribers, so the test
    // holds the sender back until the receivers are subscribed again, then checks its queue arrives.
    const [sender] = await createFleet(1, { uri: `redis://127.0.0.1:${gate.port}`, key })
    fleet = [...receivers, sender]
    const todos = sender.app.service('todos')
    const burst = (marker: string) => Promise.all(range(10).map((i) => todos.create({ marker, i })))

    await burst('before')
    await barrier(fleet, sender)
    for (const round of [1, 2]) {
      gate.block()
      await broker.kill()
      await waitFor(about('every app to notice the outage'), () =>
        fleet.every(({ app }) => app.sync.status === 'reconnecting')
      )
      await burst(`during-${round}`)
      // A connection whose loss Redis' other connection noticed first may still take the burst: those
      // publishes fail on its close a moment later and join the queue, none reaches Redis.
      await waitFor(
        about('the sender to queue the 10 events of the outage'),
        () => sender.app.sync.stats().outbox.messages === 10
      )
      // The sender's own listeners did not wait for Redis.
      expect(ids(sender, `during-${round}`)).toEqual(range(10))

      await broker.restart()
      await waitFor(about('the receivers to resubscribe'), () =>
        receivers.every(({ app }) => app.sync.status === 'ready')
      )
      gate.open()
      await waitFor(about('the sender to reconnect'), () => sender.app.sync.status === 'ready')
      await burst(`after-${round}`)
      await barrier(fleet, sender)
    }

    for (const receiver of receivers) {
      for (const marker of ['before', 'during-1', 'after-1', 'during-2', 'after-2']) {
        expect(ids(receiver, marker)).toEqual(range(10))
      }
    }
    // The receivers' own subscriptions and the sender's came back too, each exactly once.
    await barrier(fleet, receivers[0])
    for (const { app, errors } of fleet) {
      const stats = app.sync.stats()
      expect(stats.dropped.duplicate).toBe(0)
      expect(stats.reconnects).toBe(2)
      expect(stats.outbox.messages).toBe(0)
      expect(errors.length).toBeGreaterThan(0)
      expect(errors.every((error) => error instanceof SyncConnectionError)).toBe(true)
      // One report per distinct failure, not one per reconnect attempt.
      expect(errors.length).toBeLessThan(12)
    }
  }, 45_000)

  it('rejects ready naming host and port (never the password) while Redis is absent, then connects and delivers', async () => {
    const port = await freePort()
    const key = uniqueKey('late')
    const uri = `redis://app:hunter2-pw@127.0.0.1:${port}`
    fleet = [
      createTestApp({ uri, key, connectTimeoutMs: 400 }),
      createTestApp({ uri, key, connectTimeoutMs: 400 })
    ]
    const reasons = await Promise.all(
      fleet.map(({ app }) =>
        app.sync.ready.then(
          () => undefined,
          (reason: unknown) => reason
        )
      )
    )
    for (const reason of reasons) {
      expect(reason).toBeInstanceOf(SyncConnectionError)
      expect((reason as SyncConnectionError).target).toBe(`127.0.0.1:${port}`)
    }
    for (const { errors } of fleet) {
      expect(errors.some((error) => error.message.includes('ECONNREFUSED'))).toBe(true)
      for (const error of errors) {
        expect(error).toBeInstanceOf(SyncConnectionError)
        expect(error.message).toContain(`127.0.0.1:${port}`)
        expect(error.message).not.toContain('hunter2')
      }
    }

    // Nothing gave up in the background: once Redis is there, the apps connect and sync.
    broker = await startRedis({ port, extraArgs: ACL })
    await waitFor(about('both apps to connect'), () => fleet.every(({ app }) => app.sync.status === 'ready'))
    const marker = uniqueKey('late')
    await fleet[0].app.service('todos').create({ marker })
    await waitFor(about('the event after a late start'), () => fleet[1].seen('created', marker).length === 1)
  })

  it('names every cluster seed node when none can be reached', async () => {
    const [a, b] = [await freePort(), await freePort()]
    const app = createTestApp({
      key: uniqueKey('targets'),
      clusterNodes: [{ host: '127.0.0.1', port: a }, `127.0.0.1:${b}`],
      connectTimeoutMs: 300
    })
    fleet = [app]
    const reason = await app.app.sync.ready.catch((error: unknown) => error)
    expect(reason).toBeInstanceOf(SyncConnectionError)
    expect((reason as SyncConnectionError).target).toBe(`127.0.0.1:${a},127.0.0.1:${b}`)
    await waitFor('a refused connection to be reported', () => app.errors.length > 0)
    expect(app.errors.every((error) => error instanceof SyncConnectionError)).toBe(true)
  })

  it('closes promptly while Redis is unreachable and leaves no connection behind', async () => {
    const before = tcpHandles()
    const port = await freePort()
    const app = createTestApp({
      uri: `redis://127.0.0.1:${port}`,
      key: uniqueKey('close'),
      connectTimeoutMs: 200
    })
    await app.app.sync.ready.catch(() => undefined)
    const started = Date.now()
    await app.app.teardown()
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(app.app.sync.status).toBe('closed')
    await waitFor(about('the sockets to close'), () => tcpHandles() <= before)
  })
})
