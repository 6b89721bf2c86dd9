/**
 * How the cluster adapter carries a burst: the events a worker publishes in one tick travel as few IPC
 * frames, and the primary sends a worker its own messages back only when an app there needs them.
 */
import cluster, { type Worker } from 'node:cluster'
import { setupPrimary, type ClusterRelay } from '../src/index'
import { uniqueKey, waitFor } from './helpers/apps'
import { forkReady, killAll, type TestWorker } from './helpers/cluster-harness'

interface PublishFrame {
  source?: string
  type?: string
  data?: unknown
  echo?: unknown
}

let relay: ClusterRelay
let frames: { worker: Worker; frame: PublishFrame }[] = []
const record = (worker: Worker, message: PublishFrame): void => {
  if (message?.source === 'feathers-fanout' && message.type === 'publish')
    frames.push({ worker, frame: message })
}

beforeEach(() => {
  relay = setupPrimary()
  frames = []
  cluster.on('message', record)
})
afterEach(async () => {
  cluster.off('message', record)
  await killAll()
  relay.close()
})

const framesOf = (sender: TestWorker) =>
  frames.filter((entry) => entry.worker === sender.worker).map((e) => e.frame)
const seenAll = (worker: TestWorker, prefix: string, count: number) =>
  worker.events.filter((e) => e.event === 'created' && e.marker?.startsWith(`${prefix}-`)).length === count

describe('the cluster adapter under a burst', () => {
  it('sends the events of one tick in few frames, in order, and skips a local-first sender', async () => {
    const [a, b] = await forkReady(2)
    const prefix = uniqueKey('burst')
    await a.run('createMany', { prefix, count: 200 })
    await waitFor('every event at the other worker', () => seenAll(b, prefix, 200))
    const markers = b.events.filter((e) => e.marker?.startsWith(`${prefix}-`)).map((e) => e.marker)
    expect(markers).toEqual(Array.from({ length: 200 }, (_, i) => `${prefix}-${i}`))
    const sent = framesOf(a)
    expect(sent.length).toBeLessThanOrEqual(2)
    expect(sent.every((frame) => Array.isArray(frame.data) && frame.echo === false)).toBe(true)
    // The sender's own copy never came back, so its core had no echo to drop.
    const stats = await a.run<{ dropped: { ownEcho: number } }>('stats')
    expect(stats.dropped.ownEcho).toBe(0)
    expect(seenAll(a, prefix, 200)).toBe(true)
  })

  it('splits a burst of large events into frames of about 64 kB', async () => {
    const [a, b] = await forkReady(2)
    const prefix = uniqueKey('large')
    await a.run('createMany', { prefix, count: 20, size: 10_000 })
    await waitFor('every large event at the other worker', () => seenAll(b, prefix, 20))
    const sizes = framesOf(a).map((frame) => (frame.data as unknown[]).length)
    expect(sizes.reduce((sum, n) => sum + n, 0)).toBe(20)
    expect(Math.max(...sizes)).toBeLessThanOrEqual(7)
  })

  it("still sends the sender its own messages with emitOrder 'broker', which emits them from there", async () => {
    const [a, b] = await forkReady(2, { sync: { emitOrder: 'broker' } })
    const prefix = uniqueKey('broker')
    await a.run('createMany', { prefix, count: 50 })
    await waitFor('the events at both workers', () => seenAll(a, prefix, 50) && seenAll(b, prefix, 50))
    expect(framesOf(a).every((frame) => frame.echo === true)).toBe(true)
    expect(a.events.filter((e) => e.marker?.startsWith(`${prefix}-`)).every((e) => !e.remote)).toBe(true)
  })
})
