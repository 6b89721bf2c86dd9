/**
 * Client recovery on the in-process adapter: real Koa + socket.io servers and Feathers socket.io clients,
 * a TCP balancer that moves a client to another instance. The broker versions are in
 * recovery-brokers.test.ts.
 */
import { SyncConfigError, sync } from '../src/index'
import { waitFor } from './helpers/apps'
import { login } from './helpers/recovery-auth'
import { connectRecovering, type RecoveringClient } from './helpers/recovery-fleet'
import {
  emitOne,
  expectExactDelivery,
  expectedFor,
  keyOf,
  outage,
  settled,
  startFleet,
  type Running
} from './helpers/recovery-scenario'

let fleet: Running | undefined
let extra: RecoveringClient[] = []
afterEach(async () => {
  for (const client of extra) client.socket.disconnect()
  extra = []
  await fleet?.close()
  fleet = undefined
})

const memory = (name: string, extra: object = {}) => ({
  uri: `memory://${name}-${process.pid}-${Date.now()}`,
  durable: true,
  recovery: { holdMs: 5_000 },
  ...extra
})

describe('client recovery (memory adapter)', () => {
  it('gives a client that moved to another instance exactly the events of its channels, once, in order', async () => {
    fleet = await startFleet(memory('move'))
    await outage(fleet, 60, 600)
    await expectExactDelivery(fleet)
    expect(fleet.away.app.recovery.replayed).toBeGreaterThan(0)
  })

  it('with batched frames (events positioned P#n), gives a moved client exactly its events, once, in order', async () => {
    fleet = await startFleet(memory('frames', { batch: true }))
    await outage(fleet, 42, 600, 6)
    await expectExactDelivery(fleet)
    const framed = fleet.servers[1].log.filter((e) => /#\d+$/.test(e.position ?? ''))
    expect(framed.length).toBeGreaterThan(0)
    expect(fleet.away.app.recovery.replayed).toBeGreaterThan(0)
  })

  it('replays nothing of a room to a connection that is not authenticated; once it logs in, all of it', async () => {
    fleet = await startFleet(memory('auth'))
    const server = fleet.servers[1]
    for (let i = 0; i < 12; i++) await emitOne(fleet.servers[i % 3], i % 2 === 0 ? 'a' : 'b')
    await settled(fleet.servers, () => 12)
    const travelled = server.log.filter((e) => e.position !== undefined)
    const after = travelled[0].position as string
    const missedOfA = travelled
      .slice(1)
      .filter((e) => e.data.room === 'a')
      .map(keyOf)
    const url = `http://127.0.0.1:${server.port}`
    const connect = (email: string | undefined, ready?: () => Promise<void>) => {
      const client = connectRecovering(url, email, { position: after, ...(ready && { ready }) })
      extra.push(client)
      return client
    }
    // Asks at once, anonymous: the room's publishers give it nothing, live or replayed.
    const anonymous = connect(undefined, () => Promise.resolve())
    // Asks after re-authentication (the default), which fails without a stored token: it asks on login.
    const later = connect(undefined)
    // Logged in before it asks: the control.
    const member = connect('cat@example.com')
    await waitFor('the anonymous and the logged-in client to get their answers', () =>
      [anonymous, member].every((client) => client.answers === 1)
    )
    expect(member.got.map(keyOf)).toEqual(missedOfA)
    expect(later.answers).toBe(0)
    await login(later.app, 'ann@example.com')
    await waitFor(
      `the client that logged in late to get its answer (${later.answers})`,
      () => later.answers === 1
    )
    expect(later.got.map(keyOf)).toEqual(missedOfA)
    await emitOne(fleet.servers[0], 'a')
    await waitFor('the live event at the logged-in clients', () =>
      [member, later].every((client) => client.got.length === missedOfA.length + 1)
    )
    expect(anonymous.got).toEqual([])
    expect(anonymous.app.recovery.replayed).toBe(0)
    for (const client of [anonymous, later, member]) expect(client.gaps).toEqual([])
  })

  it('tells a client whose position retention dropped about the gap, and keeps it live', async () => {
    fleet = await startFleet(memory('trim', { durable: { maxMessages: 10 } }))
    await outage(fleet, 40, 200)
    const { away } = fleet
    expect(away.gaps).toEqual([expect.objectContaining({ reason: 'trimmed' })])
    // Live events after the answer still arrive, in order.
    const forA = expectedFor(fleet.servers[1], 'a')
    const last = forA.at(-1) as string
    await waitFor('the last live event', () => away.got.map(keyOf).includes(last))
    expect(away.got.map(keyOf).at(-1)).toBe(last)
  })

  it('tells a client away longer than recovery.maxAgeMs about the gap', async () => {
    fleet = await startFleet(memory('old', { recovery: { maxAgeMs: 100 } }))
    await outage(fleet, 10, 300)
    expect(fleet.away.gaps).toEqual([expect.objectContaining({ reason: 'tooOld' })])
  })

  it('refuses recovery without durable delivery, with local-first order, or with a bad limit', () => {
    const configure = (options: object) => sync({ uri: 'memory://x', ...options })
    expect(() => configure({ recovery: true })).toThrow(SyncConfigError)
    expect(() => configure({ recovery: true })).toThrow(/"recovery" needs durable/)
    expect(() => configure({ durable: true, recovery: true, emitOrder: 'local-first' })).toThrow(/emitOrder/)
    expect(() => configure({ durable: true, recovery: { maxEvents: 0 } })).toThrow(/recovery\.maxEvents/)
    expect(() => configure({ durable: true, recovery: { maxEvent: 5 } })).toThrow(/recovery\.maxEvent/)
  })
})
