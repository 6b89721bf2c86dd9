/**
 * The Redis adapter on a real local Redis Cluster (3 masters, started for this file): the conformance
 * suite with plain pub/sub and with sharded pub/sub (SPUBLISH/SSUBSCRIBE), plus a Cluster of the user's.
 */
import { Cluster, Redis } from 'ioredis'
import { startRedisCluster, type ClusterHandle } from './brokers'
import { conformanceSuite } from './conformance'
import { createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'

let cluster: ClusterHandle
let raw: Cluster

beforeAll(async () => {
  cluster = await startRedisCluster()
  raw = new Cluster(cluster.nodes, { lazyConnect: true })
  await raw.connect()
}, 60_000)

afterAll(async () => {
  await raw?.quit()
  await cluster?.stop()
})

for (const sharded of [false, true]) {
  conformanceSuite({
    name: sharded ? 'redis-cluster-sharded' : 'redis-cluster',
    options: (key) => ({ clusterNodes: cluster.nodes, key, sharded }),
    publishRaw: async (key, payload) => {
      await (sharded ? raw.spublish(key, payload) : raw.publish(key, payload))
    }
  })
}

/** How many clients of the node are subscribed to a sharded channel (`PUBSUB SHARDNUMSUB`). */
async function shardSubscribers(port: number, channel: string): Promise<number> {
  const client = new Redis(port, '127.0.0.1', { lazyConnect: true })
  try {
    await client.connect()
    const reply = (await client.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number]
    return Number(reply[1])
  } finally {
    client.disconnect()
  }
}

describe('redis cluster specifics', () => {
  let fleet: TestApp[] = []
  afterEach(async () => {
    await teardownFleet(fleet)
    fleet = []
  })

  it('subscribes on the one shard that owns the channel when sharded', async () => {
    const key = uniqueKey('shard')
    fleet = await createFleet(2, { clusterNodes: cluster.nodes, key, sharded: true })
    const counts = await Promise.all(cluster.nodes.map(({ port }) => shardSubscribers(port, key)))
    // Both apps subscribe on the owner of the slot, and no other node carries their traffic.
    expect(counts.filter((count) => count > 0)).toEqual([2])
    const marker = uniqueKey('shard')
    await fleet[0].app.service('todos').create({ marker })
    await waitFor('the sharded event', () => fleet[1].seen('created', marker).length === 1)
  })

  it('works with a Cluster client of yours and leaves it open', async () => {
    const client = new Cluster(cluster.nodes)
    const key = uniqueKey('user-cluster')
    fleet = await createFleet(2, { redisClient: client, key })
    const marker = uniqueKey('user-cluster')
    await fleet[0].app.service('todos').create({ marker })
    await waitFor('the event through your cluster', () => fleet[1].seen('created', marker).length === 1)
    await teardownFleet(fleet)
    expect(client.status).toBe('ready')
    expect(await client.ping()).toBe('PONG')
    await client.quit()
  })
})
