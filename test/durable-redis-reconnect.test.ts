/**
 * Redis durable publishing across a lost connection: publishes in flight when the connection is cut
 * never reached Redis; once back, the instance sends them again and goes on, without a pause. The
 * append script's chain (each call names the publish sent before it, adapters/redis/append.ts) starts
 * anew on the new connection: naming a publish Redis never got would be refused as out of step.
 */
import type { SyncStatusEvent } from '../src/index'
import { createTestApp, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'
import { fleetState } from './helpers/fleet-state'
import { startGate, type Gate } from './helpers/gate'

const shared = process.env.FANOUT_REDIS_URL
if (!shared) throw new Error('FANOUT_REDIS_URL is not set: run with FANOUT_BROKERS including redis')

let apps: TestApp[] = []
let gate: Gate | undefined
afterEach(async () => {
  await teardownFleet(apps)
  apps = []
  await gate?.close()
  gate = undefined
})

// Whether a cut catches a publish that ioredis then fails (rather than resends itself) depends on timing,
// so each case cuts the connection several times.
const CUTS = 4

it.each([
  ['one message per event', {}],
  ['batched frames', { batch: true }]
])('sends what was in flight again after each cut, without a pause once back (%s)', async (_name, extra) => {
  const key = uniqueKey('durable-redis-reconnect')
  gate = await startGate(Number(new URL(shared).port))
  const options = { key, durable: true, errorReportIntervalMs: 0, ...extra }
  const writer = createTestApp({ ...options, uri: `redis://127.0.0.1:${gate.port}` })
  const reader = createTestApp({ ...options, uri: shared })
  apps.push(writer, reader)
  const statuses: string[] = []
  writer.app.on('sync-status', ({ status }: SyncStatusEvent) => statuses.push(status))
  await Promise.all(apps.map(({ app }) => app.sync.ready))
  let sent = 0
  const burst = async () => {
    const markers = Array.from({ length: 50 }, () => `m-${sent++}`)
    await Promise.all(markers.map((marker) => writer.app.service('todos').create({ marker })))
  }
  const all = () => reader.received.filter((r) => r.event === 'created').length
  const pausedAfterReady: string[] = []
  for (let cut = 0; cut < CUTS; cut++) {
    await burst()
    await waitFor(`the reader has ${sent}; ${fleetState(apps)}`, () => all() >= sent, 20_000)
    // What the writer sends now never arrives; then the connection is cut.
    gate.hold()
    await burst()
    const before = statuses.length
    gate.cut()
    await waitFor(
      `the writer to notice cut ${cut + 1}; ${fleetState(apps)}`,
      () => statuses.slice(before).includes('reconnecting'),
      20_000
    )
    await waitFor(
      `the writer back after cut ${cut + 1}; ${fleetState(apps)}`,
      () => statuses.at(-1) === 'ready',
      20_000
    )
    const backAt = statuses.length
    await burst()
    await waitFor(`the reader has ${sent}; ${fleetState(apps)}`, () => all() >= sent, 20_000)
    pausedAfterReady.push(...statuses.slice(backAt).map((status) => `cut ${cut + 1}: ${status}`))
  }
  expect(pausedAfterReady).toEqual([])
  expect(
    writer.errors.filter((error) => /append script|out of step/i.test(error.message)).map((e) => e.message)
  ).toEqual([])
  const markers = reader.received.filter((r) => r.event === 'created').map((r) => String(r.data.marker))
  expect(new Set(markers).size).toBe(sent)
  expect(markers.length).toBe(sent)
})
