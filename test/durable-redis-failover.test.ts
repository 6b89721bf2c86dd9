/**
 * Durable delivery on a Redis Cluster (3 masters, one replica each, `cluster-node-timeout` 1 s, started
 * for each test) whose master holding the stream is killed with SIGKILL while three buses publish 200
 * events/s each; its replica takes over. Every event whose `XADD` returned must reach every other bus once,
 * in order per sender, unless Redis itself lost it (replication is asynchronous), and then the loss must be
 * reported as a gap. Publishes that failed are resent by the outbox.
 */
import { Cluster } from 'ioredis'
import { startRedisCluster, type BrokerHandle, type ClusterHandle } from './brokers'
import { uniqueKey, waitFor } from './helpers/apps'
import { clusterNodes, openMember, ownerOf, publishSteadily, type Member } from './helpers/cluster-failover'

const NODE_TIMEOUT_MS = 1_000
const EVERY_MS = 5 // 200 events/s per bus

let cluster: ClusterHandle | undefined
let members: Member[] = []

beforeEach(async () => {
  cluster = await startRedisCluster({ replicas: 1, nodeTimeoutMs: NODE_TIMEOUT_MS })
}, 60_000)

afterEach(async () => {
  await Promise.all(members.map(({ bus }) => bus.close()))
  members = []
  await cluster?.stop()
  cluster = undefined
})

const state = () => members.map((member) => member.describe()).join('; ')
const within = (what: string, check: () => boolean, timeoutMs: number) =>
  waitFor(() => `${what} (${state()})`, check, timeoutMs)

/** Every `(from, n)` the stream holds now, read through a Cluster client of the test's own. */
async function storedEvents(nodes: ClusterHandle['nodes'], stream: string): Promise<Set<string>> {
  const client = new Cluster(nodes)
  try {
    const stored = new Set<string>()
    for (let from = '-', pages = 0; pages < 1_000; pages++) {
      const entries = await client.xrange(stream, from, '+', 'COUNT', 1_000)
      for (const [, fields] of entries) {
        const { data } = JSON.parse(fields[1]) as { data: { from: string; n: number } }
        stored.add(`${data.from}:${data.n}`)
      }
      if (entries.length < 1_000) return stored
      from = `(${entries[entries.length - 1][0]}`
    }
    throw new Error('the stream did not end within 1,000 pages')
  } finally {
    client.disconnect()
  }
}

/** The broker handle of the node listening on `port`. */
function brokerAt(port: number): BrokerHandle {
  const broker = cluster?.brokers.find((handle) => handle.port === port)
  if (!broker) throw new Error(`no node on port ${port}`)
  return broker
}

/**
 * Runs the failover. With `lagMs`, the replica is paused (SIGSTOP) that long before the master is killed,
 * so that publishes the master confirms meanwhile never reach it: Redis loses them, by design.
 */
async function failover(lagMs: number): Promise<void> {
  if (!cluster) throw new Error('no cluster')
  const { nodes } = cluster
  const key = uniqueKey('failover')
  const stream = `{${key}}:log`
  members = await Promise.all(['a', 'b', 'c'].map((name) => openMember(name, nodes, key)))
  const stops = members.map((member) => publishSteadily(member, EVERY_MS))
  const heard = (count: number) =>
    members.every((member) =>
      members.every((other) => other === member || (member.received.get(other.name)?.length ?? 0) >= count)
    )
  await within('each bus to hear 50 events of each other', () => heard(50), 20_000)

  const { master, replica } = await ownerOf(nodes[0].port, stream)
  if (lagMs > 0) {
    brokerAt(replica.port).pause()
    const marks = members.map((member) => member.confirmed.length)
    await within(
      'confirmed publishes while the replica is paused',
      () => members.every((m, i) => m.confirmed.length >= marks[i] + 20),
      10_000
    )
  }
  await brokerAt(master.port).kill('SIGKILL')
  const killedAt = Date.now()
  if (lagMs > 0) brokerAt(replica.port).resume()
  const atKill = members.map((member) => member.confirmed.length)

  let promoted = false
  await waitFor(
    `the replica on ${replica.port} to take over from the master on ${master.port}`,
    () => {
      void clusterNodes(replica.port).then(
        (seen) =>
          (promoted = seen.some((node) => node.port === replica.port && node.flags.includes('master'))),
        () => undefined
      )
      return promoted
    },
    20_000
  )
  const failoverMs = Date.now() - killedAt
  await within(
    'publishes confirmed again',
    () => members.every((m, i) => m.confirmed.length >= atKill[i] + 100),
    30_000
  )
  await within('every bus ready', () => members.every((member) => member.bus.status === 'ready'), 30_000)
  const readyMs = Date.now() - killedAt
  stops.forEach((stop) => stop())

  // Everything published is confirmed at last (first time or resent by the outbox).
  const confirmedAll = (member: Member) =>
    new Set(member.confirmed.map(({ n }) => n)).size === member.published
  await within('every publish confirmed', () => members.every(confirmedAll), 30_000)
  const stored = await storedEvents(nodes, stream)
  const lost = new Set(
    members.flatMap((member) =>
      member.confirmed.map(({ n }) => `${member.name}:${n}`).filter((event) => !stored.has(event))
    )
  )
  const missingAt = (member: Member) =>
    members
      .filter((other) => other !== member)
      .flatMap((other) => {
        const got = new Set(member.received.get(other.name))
        return Array.from({ length: other.published }, (_, n) => n)
          .filter((n) => !got.has(n))
          .map((n) => `${other.name}:${n}`)
      })
  await within(
    'every bus to receive every stored event',
    () => members.every((member) => missingAt(member).every((event) => lost.has(event))),
    30_000
  )
  const caughtUpMs = Date.now() - killedAt
  console.log(
    `Redis Cluster failover (replica paused ${lagMs} ms before the kill): replica master after ${failoverMs} ms, ` +
      `every bus ready after ${readyMs} ms, caught up after ${caughtUpMs} ms; ` +
      `${lost.size} confirmed publishes lost by Redis; ${state()}`
  )

  for (const member of members) {
    for (const [from, list] of member.received) {
      const bad = list.findIndex((n, i) => i > 0 && n <= list[i - 1])
      expect({ at: member.name, from, firstOutOfOrder: bad }).toEqual({
        at: member.name,
        from,
        firstOutOfOrder: -1
      })
    }
    // What Redis lost is reported where it is missing; nothing else is missing.
    const missing = missingAt(member)
    expect({ at: member.name, missingNotLost: missing.filter((event) => !lost.has(event)) }).toEqual({
      at: member.name,
      missingNotLost: []
    })
    expect({ at: member.name, reported: missing.length === 0 || member.gaps.length > 0 }).toEqual({
      at: member.name,
      reported: true
    })
    expect({ at: member.name, publishErrors: member.bus.stats().publishErrors }).toEqual({
      at: member.name,
      publishErrors: 0
    })
  }
}

it('delivers every confirmed publish once when the master holding the stream fails over', async () => {
  await failover(0)
}, 120_000)

it('reports what Redis lost when the replica lagged behind the killed master', async () => {
  await failover(500)
}, 120_000)
