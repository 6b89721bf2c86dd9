/**
 * NATS outages, each on a private nats-server that the test kills and restarts: the shared server of
 * the run is never disturbed. Guards against feathers-sync's NATS adapter, which loses every event
 * published while the server is away and opens a new connection per event.
 */
import { inspect } from 'node:util'
import { SyncConnectionError, SyncMessageError, type SyncError, type SyncStatus } from '../src/index'
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

// Fast retries keep the test short; the adapter's resume delay follows from them (200 + 100 + 500 ms).
const natsConnectionOptions = { reconnectTimeWait: 200, reconnectJitter: 100 }

let fleet: TestApp[] = []
let brokers: BrokerHandle[] = []

afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
  await Promise.all(brokers.map((broker) => broker.stop()))
  brokers = []
})

const statusOf = (member: TestApp): SyncStatus => member.app.sync.status
const markers = (member: TestApp, prefix: string): string[] =>
  member.received.map((r) => String(r.data?.marker ?? '')).filter((marker) => marker.startsWith(prefix))

describe.each([true, false])(
  'nats: a server killed and restarted mid-stream, confirmPublish %s',
  (confirmPublish) => {
    it('keeps delivering; events published while it was down arrive after it is back; no app sees one twice', async () => {
      const broker = await startNats({ jetstream: false })
      brokers.push(broker)
      const key = uniqueKey('nats-kill')
      fleet = await createFleet(3, { uri: broker.url, key, natsConnectionOptions, confirmPublish })
      const [sender, ...others] = fleet
      const prefix = uniqueKey('stream')
      const sent: string[] = []
      let stop = false
      // A steady stream from the sender: it keeps publishing while the server dies and comes back.
      const stream = (async () => {
        for (let i = 0; i < 5_000 && !stop; i++) {
          const marker = `${prefix}-${i}`
          await sender.app.service('todos').create({ marker })
          sent.push(marker)
          await new Promise((resolve) => setTimeout(resolve, 2)) // pacing the stream, not waiting for anything
        }
      })()

      await waitFor('a first part of the stream to arrive', () =>
        others.every((o) => markers(o, prefix).length >= 20)
      )
      const beforeKill = sent.length
      await broker.kill('SIGKILL')
      await waitFor('every app to notice the outage', () =>
        fleet.every((member) => statusOf(member) === 'reconnecting')
      )
      const whileDown = sent.length
      await waitFor('events to be published while the server is down', () => sent.length >= whileDown + 20)
      expect(sender.app.sync.stats().outbox.messages).toBeGreaterThanOrEqual(20)
      await broker.restart()
      await waitFor('every app to be ready again', () =>
        fleet.every((member) => statusOf(member) === 'ready')
      )
      await barrier(fleet, sender)
      const duplicatesAtRecovery = others.map((other) => other.app.sync.stats().dropped.duplicate)
      const afterRecovery = sent.length
      await waitFor('events to be published after recovery', () => sent.length >= afterRecovery + 20)
      stop = true
      await stream
      await barrier(fleet, sender)

      others.forEach((other, index) => {
        const got = markers(other, prefix)
        // Never twice, always in the order sent.
        expect(new Set(got).size).toBe(got.length)
        expect(got).toEqual(sent.filter((marker) => got.includes(marker)))
        // Everything published once every app knew the server was gone, and after it was back, arrived.
        expect(got.slice(-(sent.length - whileDown))).toEqual(sent.slice(whileDown))
        const { duplicate } = other.app.sync.stats().dropped
        // Later events are exactly-once: no copy at all since the recovery.
        expect(duplicate).toBe(duplicatesAtRecovery[index])
        if (confirmPublish) {
          // Nothing lost, even what was in flight at the kill; a resend of what did get through is dropped.
          expect(got).toEqual(sent)
          expect(duplicate).toBeLessThanOrEqual(10)
        } else {
          // Fire and forget never sends twice; only what was in flight around the kill may be lost.
          expect(duplicate).toBe(0)
          expect(got.slice(0, beforeKill - 10)).toEqual(sent.slice(0, beforeKill - 10))
          // ...and what was lost is counted by the receiver, not silent (the sender's numbering shows it).
          expect(other.app.sync.stats().dropped.missed).toBe(sent.length - got.length)
        }
      })
      const stats = sender.app.sync.stats()
      expect(stats.reconnects).toBe(1)
      expect(stats.dropped).toMatchObject({ outboxOverflow: 0, unsent: 0 })
      expect(stats.publishErrors).toBe(0)
      // The outage was reported as connection errors; besides them, only the receivers' reports of
      // messages lost in flight (fire and forget), never with confirmPublish.
      for (const member of fleet) {
        expect(member.errors.some((error) => error instanceof SyncConnectionError)).toBe(true)
        const missed = (error: SyncError) => error instanceof SyncMessageError && error.reason === 'missed'
        const other = member.errors.filter(
          (error) => !(error instanceof SyncConnectionError) && !missed(error)
        )
        expect(other.map(String)).toEqual([])
        if (confirmPublish) expect(member.errors.filter(missed).map(String)).toEqual([])
      }
    })
  }
)

describe('nats: no server at startup', () => {
  it('rejects ready with a SyncConnectionError naming host:port and never the credentials, then connects when it appears', async () => {
    const port = await freePort()
    const key = uniqueKey('nats-late')
    const uri = `nats://alice:s3cret-pw@127.0.0.1:${port}`
    const started = Date.now()
    const early = createTestApp({ uri, key, connectTimeoutMs: 500, natsConnectionOptions })
    fleet = [early]
    const rejection = await early.app.sync.ready.then(
      () => undefined,
      (error: SyncError) => error
    )
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(rejection).toBeInstanceOf(SyncConnectionError)
    expect(rejection?.message).toContain(`127.0.0.1:${port}`)
    expect((rejection as SyncConnectionError).target).toBe(`127.0.0.1:${port}`)
    // The attempts were reported too (connection refused), none with the credentials.
    await waitFor('two refused attempts to be reported', () => early.errors.length >= 2)
    for (const error of early.errors) {
      expect(error).toBeInstanceOf(SyncConnectionError)
      // Everything, the driver's error in `cause` included.
      expect(inspect(error, { depth: 10 })).not.toMatch(/alice|s3cret/)
    }
    expect(statusOf(early)).toBe('connecting')

    // The server appears on that port (with those credentials): the app connects and delivers.
    const broker = await startNats({
      port,
      jetstream: false,
      config: 'authorization { user: alice, password: "s3cret-pw" }'
    })
    brokers.push(broker)
    await waitFor('the early app to become ready', () => statusOf(early) === 'ready')
    const late = createTestApp({ uri, key, natsConnectionOptions })
    fleet.push(late)
    await late.app.sync.ready
    const marker = uniqueKey('late')
    await early.app.service('todos').create({ marker })
    await late.app.service('todos').create({ marker: `${marker}-back` })
    await waitFor(
      'events both ways',
      () => late.seen('created', marker).length === 1 && early.seen('created', `${marker}-back`).length === 1
    )
  })
})

describe('nats: closing an app whose server never came', () => {
  it('stops retrying and leaves nothing behind that would connect later', async () => {
    const port = await freePort()
    const app = createTestApp({
      uri: `nats://127.0.0.1:${port}`,
      key: uniqueKey('nats-never'),
      natsConnectionOptions
    })
    fleet = [app]
    await waitFor('a failed attempt', () => app.errors.length > 0)
    await app.app.teardown()
    expect(app.app.sync.status).toBe('closed')

    const monitor = await freePort()
    const broker = await startNats({ port, jetstream: false, config: `http: "127.0.0.1:${monitor}"` })
    brokers.push(broker)
    const connections = async () => {
      const response = await fetch(`http://127.0.0.1:${monitor}/varz`)
      return ((await response.json()) as { total_connections: number }).total_connections
    }
    // The harness's readiness probe is a connection too; none may come after it.
    const baseline = await connections()
    // Proving that nothing happens needs a time window: several retry periods (200 + 100 ms each),
    // in which a leftover retry loop would have connected.
    const deadline = Date.now() + 1_000
    while (Date.now() < deadline) {
      expect(await connections()).toBe(baseline)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })
})

describe('nats: a hung server (SIGSTOP)', () => {
  it('is noticed by the client pings; what was published meanwhile arrives once after it resumes', async () => {
    const broker = await startNats({ jetstream: false })
    brokers.push(broker)
    const hungOptions = { ...natsConnectionOptions, pingInterval: 200, maxPingOut: 2, timeout: 1_000 }
    fleet = await createFleet(2, {
      uri: broker.url,
      key: uniqueKey('nats-hung'),
      natsConnectionOptions: hungOptions
    })
    const [sender, receiver] = fleet
    await barrier(fleet, sender)
    broker.pause()
    const prefix = uniqueKey('hung')
    for (let i = 0; i < 10; i++) await sender.app.service('todos').create({ marker: `${prefix}-${i}` })
    await waitFor('both apps to declare the connection stale', () =>
      fleet.every((m) => statusOf(m) === 'reconnecting')
    )
    broker.resume()
    await waitFor('both apps to be ready again', () => fleet.every((m) => statusOf(m) === 'ready'))
    await barrier(fleet, sender)
    const expected = Array.from({ length: 10 }, (_, i) => `${prefix}-${i}`)
    expect(markers(receiver, prefix)).toEqual(expected)
  })
})
