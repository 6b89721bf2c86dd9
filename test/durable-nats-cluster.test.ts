/**
 * Durable delivery on a 3-node NATS cluster on loopback with an R3 stream: the server leading the
 * stream is killed with SIGKILL mid-stream. Every message whose publish the cluster acknowledged must
 * reach the reader; none at two positions unless it was resent.
 */
import { connect } from 'nats'
import { streamName } from '../adapters/nats/durable-options'
import { freePort, startNats, type BrokerHandle } from './brokers'
import { uniqueKey, waitFor } from './helpers/apps'
import {
  closeProbes,
  describeProbe,
  expectIncreasing,
  follow,
  last,
  open,
  publishSteadily,
  texts
} from './helpers/durable-nats'

const NAMES = ['n1', 'n2', 'n3']
let brokers: BrokerHandle[] = []

afterEach(async () => {
  await closeProbes()
  await Promise.all(brokers.map((broker) => broker.stop()))
  brokers = []
})

async function startCluster(): Promise<BrokerHandle[]> {
  const routePorts = await Promise.all(NAMES.map(() => freePort()))
  const routes = routePorts.map((port) => `nats-route://127.0.0.1:${port}`)
  return Promise.all(
    NAMES.map((name, i) =>
      startNats({
        jetstream: true,
        config: [
          `server_name: ${name}`,
          `cluster { name: fanout, listen: "127.0.0.1:${routePorts[i]}", routes: [${routes.join(', ')}] }`
        ].join('\n')
      })
    )
  )
}

it('loses nothing the cluster acknowledged when the stream leader is killed', async () => {
  brokers = await startCluster()
  const servers = brokers.map((broker) => broker.url)
  const key = uniqueKey('ndc')
  const options = { natsConnectionOptions: { servers, reconnectTimeWait: 200, reconnectJitter: 100 } }
  const durable = { maxMessages: 100_000 }
  // Reader and publisher on different servers, neither necessarily the leader.
  const reader = await open('reader', servers[0], key, durable, { jetstreamReplicas: 3, ...options })
  await follow(reader, { kind: 'tail' })
  const publisher = await open('publisher', servers[1], key, durable, { jetstreamReplicas: 3, ...options })
  await follow(publisher, { kind: 'tail' })
  const stream = publishSteadily(publisher, 'm')
  await waitFor('a first part to arrive', () => reader.got.length >= 50)

  const nc = await connect({ servers })
  const info = await (await nc.jetstreamManager()).streams.info(streamName(key))
  await nc.close()
  expect(info.config.num_replicas).toBe(3)
  const leader = info.cluster?.leader
  const victim = brokers[NAMES.indexOf(leader ?? '')]
  if (!victim) throw new Error(`no stream leader among ${NAMES.join(', ')}: ${String(leader)}`)
  const atKill = stream.confirmed.length
  await victim.kill('SIGKILL')
  const killed = Date.now()
  await waitFor(
    () =>
      `publishes acknowledged again after the leader ${String(leader)} died at ${new Date(killed).toISOString()} ` +
      `(${describeProbe(publisher)}; ${stream.state})`,
    () => stream.confirmed.length >= atKill + 50,
    30_000
  )
  const resumedMs = Date.now() - killed
  await stream.stop()
  await waitFor(
    `everything at the reader (${describeProbe(reader)})`,
    () => texts(reader).includes(last(stream.confirmed) ?? ''),
    30_000
  )
  console.log(
    `leader ${String(leader)} killed: publishes acknowledged again within ${resumedMs} ms; ` +
      `${stream.resent} resent; reader ${describeProbe(reader)}`
  )
  const got = new Set(texts(reader))
  expect(stream.confirmed.filter((text) => !got.has(text))).toEqual([])
  expectIncreasing(reader)
  expect(reader.got.length - got.size).toBeLessThanOrEqual(stream.resent)
  expect(reader.gaps).toEqual([])
}, 90_000)
