/**
 * The conformance suite, run by a nested Jest INSIDE a real cluster worker (see
 * test/cluster.test.ts, whose Jest process is the primary running setupPrimary()). The suite puts
 * several apps in this one worker: they see each other because the primary relays every message
 * to every subscribed worker, the sender included, and the worker hands it to each app on the key.
 * Not named *.test.ts: outside a cluster worker the adapter refuses to run.
 */
import cluster from 'node:cluster'
import { frame, toWire } from '../../adapters/cluster/protocol'
import { conformanceSuite } from '../conformance'
import { barrier, createFleet, teardownFleet, uniqueKey, type TestApp } from './apps'

const sendRaw = (message: object): Promise<void> =>
  new Promise((resolve, reject) => {
    // Jest's `process.send` is a no-op stand-in; the cluster worker handle reaches the real channel.
    if (!cluster.worker) throw new Error('not a cluster worker')
    cluster.worker.send(message, undefined, (error: Error | null) => (error ? reject(error) : resolve()))
  })

conformanceSuite({
  name: 'cluster',
  options: (key) => ({ uri: 'cluster://', key }),
  // The IPC channel is this adapter's "broker client": a raw frame goes to the primary's relay.
  publishRaw: (key, payload) => sendRaw(frame({ type: 'publish', key, data: toWire(payload) })),
  // The worker's link listens on the IPC channel while an app uses the adapter, and not after.
  openHandles: () =>
    (cluster.worker?.listenerCount('message') ?? 0) + (cluster.worker?.listenerCount('disconnect') ?? 0)
})

describe('cluster adapter inside one worker', () => {
  let fleets: TestApp[][] = []
  afterEach(async () => {
    await Promise.all(fleets.map(teardownFleet))
    fleets = []
  })

  it('keeps apps on different keys in one worker apart', async () => {
    const [a1, a2] = await createFleet(2, { uri: 'cluster://', key: uniqueKey('keys-a') })
    const [b1] = await createFleet(1, { uri: 'cluster://', key: uniqueKey('keys-b') })
    fleets.push([a1, a2], [b1])
    const marker = uniqueKey('apart')
    await a1.app.service('todos').create({ marker })
    await barrier([a1, a2], a1)
    await b1.app.service('todos').create({ marker: `${marker}-b` })
    await barrier([b1], b1)
    expect(a2.seen('created', marker)).toHaveLength(1)
    expect(b1.seen('created', marker)).toHaveLength(0)
    expect(a2.seen('created', `${marker}-b`)).toHaveLength(0)
  })
})
