/**
 * Client recovery on the in-process adapter: real Koa + socket.io servers and Feathers socket.io clients,
 * a TCP balancer that moves a client to another instance. The broker versions are in
 * recovery-brokers.test.ts.
 */
import { SyncConfigError, sync } from '../src/index'
import { waitFor } from './helpers/apps'
import {
  expectExactDelivery,
  expectedFor,
  keyOf,
  outage,
  startFleet,
  type Running
} from './helpers/recovery-scenario'

let fleet: Running | undefined
afterEach(async () => {
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
