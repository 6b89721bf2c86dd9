/**
 * Durable delivery on a 3-node RabbitMQ cluster on loopback, with the stream queue replicated on every
 * node (`amqpStreamReplicas: 3`). Three buses, each given all three addresses and each starting on a
 * different node, publish 100 events/s each; the node leading the stream is killed with SIGKILL, and
 * restarted once every bus publishes again. Every event a bus published must reach every other bus
 * once, in order per sender: RabbitMQ confirms a stream publish once a majority of the replicas wrote it.
 */
import { createAmqpAdapter } from '../adapters/amqp'
import type { DurableLog } from '../src/adapter'
import { parseOptions } from '../src/engine/options'
import { rabbitmqctl, startRabbitMqCluster, type RabbitMqClusterHandle } from './brokers'
import { uniqueKey, waitFor } from './helpers/apps'
import { openMember, publishSteadily, type Member } from './helpers/cluster-failover'

const EVERY_MS = 10 // 100 events/s per bus
// Fast retries: a bus whose node died tries the next address within about 100 ms.
const amqpRecovery = { initialDelayMs: 50, maxDelayMs: 300 }

let cluster: RabbitMqClusterHandle | undefined
let members: Member[] = []
let stops: (() => void)[] = []
const timeline: string[] = []
let started = Date.now()

afterEach(async () => {
  stops.forEach((stop) => stop())
  stops = []
  await Promise.all(members.map(({ bus }) => bus.close()))
  members = []
  await cluster?.stop()
  cluster = undefined
})

const mark = (what: string) => timeline.push(`+${Date.now() - started} ms ${what}`)
const state = () =>
  `${members.map((member) => member.describe()).join('; ')}; test timeline [${timeline.join('; ')}]`
const within = (what: string, check: () => boolean, timeoutMs: number) =>
  waitFor(() => `${what} (${state()})`, check, timeoutMs)

/** Numbers each other bus published that `member` did not receive, as `from:n`. */
const missingAt = (member: Member): string[] =>
  members
    .filter((other) => other !== member)
    .flatMap((other) => {
      const got = new Set(member.received.get(other.name))
      return Array.from({ length: other.published }, (_, n) => n)
        .filter((n) => !got.has(n))
        .map((n) => `${other.name}:${n}`)
    })

/** The stream's leader and replicas, as the second node lists them (`rabbitmqctl list_queues`). */
async function streamNodes(key: string): Promise<{ leader: string; members: string[] }> {
  if (!cluster) throw new Error('no cluster')
  const text = await rabbitmqctl(
    cluster.brokers[1],
    'list_queues',
    'name',
    'leader',
    'members',
    '--formatter',
    'json'
  )
  const queues = JSON.parse(text) as { name: string; leader: string; members: string[] }[]
  const queue = queues.find(({ name }) => name === `${key}.stream`)
  if (!queue) throw new Error(`no stream ${key}.stream in ${text}`)
  return queue
}

it('delivers every event once to every bus when the node leading the stream is killed -9 and restarted', async () => {
  started = Date.now()
  timeline.length = 0
  cluster = await startRabbitMqCluster(3)
  mark(`cluster formed (${cluster.steps.join(', ')})`)
  const key = uniqueKey('amqpcluster')
  const open = (name: string, first: number) => {
    const options = { uri: cluster?.uri(first), key, durable: true, amqpStreamReplicas: 3, amqpRecovery }
    const adapter = createAmqpAdapter(parseOptions(options)) as ReturnType<typeof createAmqpAdapter> &
      DurableLog
    return openMember(name, adapter, key)
  }
  // The first declares the stream (concurrent first declarations make RabbitMQ drop a connection now
  // and then); its leader is on the node that bus is connected to.
  members = [await open('a', 0)]
  members.push(...(await Promise.all([open('b', 1), open('c', 2)])))
  const { brokers } = cluster
  const stream = await streamNodes(key)
  expect({ replicas: stream.members.length }).toEqual({ replicas: 3 })
  const victim = brokers.find((broker) => cluster?.nodeName(broker) === stream.leader)
  if (!victim) throw new Error(`the stream's leader ${stream.leader} is none of the cluster's nodes`)

  stops = members.map((member) => publishSteadily(member, EVERY_MS))
  const heard = (count: number) =>
    members.every((member) =>
      members.every((other) => other === member || (member.received.get(other.name)?.length ?? 0) >= count)
    )
  await within('each bus to hear 50 events of each other', () => heard(50), 20_000)

  const atKill = members.map((member) => member.confirmed.length)
  await victim.kill('SIGKILL')
  const killedAt = Date.now()
  mark(`killed ${stream.leader} (port ${victim.port})`)
  await within(
    'publishes confirmed again on every bus',
    () => members.every((m, i) => m.confirmed.length >= atKill[i] + 50),
    30_000
  )
  const resumedMs = Date.now() - killedAt
  mark('every bus confirmed 50 more')
  await within('every bus ready', () => members.every((member) => member.bus.status === 'ready'), 10_000)
  const readyAgainMs = Math.max(...members.map((member) => member.readyAt)) - killedAt

  await victim.restart()
  const restartedMs = Date.now() - killedAt
  mark(`${stream.leader} restarted`)
  await cluster.waitFormed(brokers.find((broker) => broker !== victim))
  mark(`${stream.leader} running in the cluster again`)
  const atRestart = members.map((member) => member.confirmed.length)
  await within(
    'publishes confirmed after the restart',
    () => members.every((m, i) => m.confirmed.length >= atRestart[i] + 50),
    20_000
  )
  stops.forEach((stop) => stop())
  const stoppedAt = Date.now()
  mark('publishing stopped')

  const confirmedAll = (member: Member) =>
    new Set(member.confirmed.map(({ n }) => n)).size === member.published
  await within('every publish confirmed', () => members.every(confirmedAll), 30_000)
  await within(
    'every bus to receive every event',
    () => members.every((m) => missingAt(m).length === 0),
    30_000
  )
  const catchUpMs = Date.now() - stoppedAt
  console.log(
    `RabbitMQ cluster, stream leader ${stream.leader} killed -9: every bus ready again after ` +
      `${readyAgainMs} ms, publishes confirmed again on every bus after ${resumedMs} ms; node restarted after ${restartedMs} ms; every bus had every event ` +
      `${catchUpMs} ms after publishing stopped; ${state()}`
  )

  for (const member of members) {
    for (const [from, list] of member.received) {
      // Strictly increasing: none twice, none out of order.
      const bad = list.findIndex((n, i) => i > 0 && n <= list[i - 1])
      expect({ at: member.name, from, firstOutOfOrder: bad }).toEqual({
        at: member.name,
        from,
        firstOutOfOrder: -1
      })
    }
    const { publishErrors } = member.bus.stats()
    expect({ at: member.name, gaps: member.gaps, publishErrors, status: member.bus.status }).toEqual({
      at: member.name,
      gaps: [],
      publishErrors: 0,
      status: 'ready'
    })
  }
}, 180_000)
