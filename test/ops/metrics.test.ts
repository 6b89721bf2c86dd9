import { Registry } from 'prom-client'
import { memoryBus, SyncDependencyError, syncMetrics } from '../../src/index'
import { createBus } from '../../src/bus'
import { barrier, createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from '../helpers/apps'

let fleet: TestApp[] = []
afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
})

type Series = { labels: Record<string, string | number>; value: number; metricName?: string }
async function series(registry: Registry, name: string): Promise<Series[]> {
  const metric = registry.getSingleMetric(name)
  if (!metric)
    throw new Error(
      `no metric ${name}; registered: ${(await registry.getMetricsAsJSON()).map((m) => m.name).join(', ')}`
    )
  return (await metric.get()).values as Series[]
}
const valueOf = async (registry: Registry, name: string, labels: Record<string, string> = {}) =>
  (await series(registry, name))
    .filter((entry) => Object.entries(labels).every(([k, v]) => entry.labels[k] === v))
    .reduce((sum, entry) => sum + entry.value, 0)

describe('Prometheus metrics (prom-client)', () => {
  it('reports counters, drops by reason, status, outbox and both latencies, labelled by adapter and channel', async () => {
    const key = uniqueKey('metrics')
    const name = uniqueKey('metrics-bus')
    fleet = await createFleet(2, { uri: `memory://${name}`, key })
    const [sender, receiver] = fleet
    const registry = new Registry()
    sender.app.sync.metrics({ registry })
    syncMetrics(receiver.app, { registry })
    for (let i = 0; i < 3; i++) await sender.app.service('todos').create({ marker: `m-${i}` })
    memoryBus(name).publish(key, 'junk {')
    await barrier(fleet, sender)
    // Both apps hear the junk.
    await waitFor('the junk to be counted', () =>
      fleet.every(({ app }) => app.sync.stats().dropped.undecodable === 1)
    )

    const labels = { adapter: 'memory', channel: key }
    expect(await valueOf(registry, 'feathers_fanout_messages_published_total', labels)).toBe(4)
    expect(await valueOf(registry, 'feathers_fanout_messages_delivered_total', labels)).toBe(4)
    expect(
      await valueOf(registry, 'feathers_fanout_messages_dropped_total', { ...labels, reason: 'undecodable' })
    ).toBe(2)
    expect(await valueOf(registry, 'feathers_fanout_status', { ...labels, status: 'ready' })).toBe(2)
    expect(await valueOf(registry, 'feathers_fanout_outbox_messages', labels)).toBe(0)
    const delivery = await series(registry, 'feathers_fanout_delivery_latency_seconds')
    const deliveryCount = delivery.find((s) => s.metricName?.endsWith('_count') && s.labels.channel === key)
    expect(deliveryCount?.value).toBe(4)
    const publish = await series(registry, 'feathers_fanout_publish_latency_seconds')
    expect(publish.find((s) => s.metricName?.endsWith('_count'))?.value).toBe(4)

    // Counters add only what is new at the next scrape: no double counting.
    await sender.app.service('todos').create({ marker: 'one-more' })
    await barrier(fleet, sender)
    expect(await valueOf(registry, 'feathers_fanout_messages_published_total', labels)).toBe(6)
    const text = await registry.metrics()
    expect(text).toContain(
      `feathers_fanout_messages_dropped_total{adapter="memory",channel="${key}",reason="undecodable"} 2`
    )
  })

  it('keeps counting after a stop, drops the stopped app from the gauges, and takes a prefix', async () => {
    fleet = await createFleet(1, { uri: `memory://${uniqueKey('metrics-stop')}` })
    const registry = new Registry()
    const metrics = fleet[0].app.sync.metrics({ registry, prefix: 'app_sync_' })
    expect(metrics.registry).toBe(registry)
    expect(await valueOf(registry, 'app_sync_status', { status: 'ready' })).toBe(1)
    metrics.stop()
    expect(await valueOf(registry, 'app_sync_status', { status: 'ready' })).toBe(0)
  })

  it('works on a bus from createBus, and refuses what is not an app or a bus', async () => {
    const bus = createBus({ uri: `memory://${uniqueKey('metrics-busonly')}` })
    try {
      await bus.ready
      const registry = new Registry()
      syncMetrics(bus, { registry })
      bus.publish({ event: 'created', path: 'todos', data: {}, context: null })
      expect(await valueOf(registry, 'feathers_fanout_messages_published_total')).toBe(1)
      expect(() => syncMetrics({} as never, { registry })).toThrow(/configured with sync\(\)/)
      expect(() => syncMetrics(bus, { registry, prefix: '9bad' })).toThrow(/"prefix"/)
    } finally {
      await bus.close()
    }
  })

  it('says which package to install when prom-client is missing', () => {
    jest.isolateModules(() => {
      jest.doMock('prom-client', () => {
        throw Object.assign(new Error("Cannot find module 'prom-client'"), { code: 'MODULE_NOT_FOUND' })
      })
      const { busMetrics } = require('../../src/ops/metrics') as typeof import('../../src/ops/metrics')
      const { SyncDependencyError: Isolated } =
        require('../../src/errors') as typeof import('../../src/errors')
      const bus = createBus({ uri: `memory://${uniqueKey('metrics-missing')}` })
      let thrown: unknown
      try {
        busMetrics(bus)
      } catch (error) {
        thrown = error
      }
      void bus.close()
      expect(thrown).toBeInstanceOf(Isolated)
      expect((thrown as SyncDependencyError).packageName).toBe('prom-client')
      expect((thrown as Error).message).toMatch(/npm install prom-client/)
    })
    jest.dontMock('prom-client')
  })
})
