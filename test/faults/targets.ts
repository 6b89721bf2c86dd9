/**
 * The fault suite's targets: per broker, how to start a private one, the sync options of its instances,
 * and how to publish raw bytes on the channel with the broker's own client. Everything else is shared.
 */
import { connect as amqpConnect } from 'amqplib'
import { Redis } from 'ioredis'
import { connect as natsConnect } from 'nats'
import net from 'node:net'
import { setupPrimary, type ClusterRelay, type SyncOptions } from '../../src/index'
import { redisCommand, startNats, startRabbitMq, startRedis, type BrokerHandle } from '../brokers'
import type { Instance, Spawn } from './fleet'

export interface FaultTarget {
  name: 'redis' | 'nats' | 'amqp' | 'cluster' | 'redis-durable' | 'nats-durable' | 'amqp-durable'
  spawn: Spawn
  /** Durable delivery on: the durable scenarios, each instance named by its slot; none may lose an event. */
  durable?: boolean
  /**
   * Scenarios this target does not run, each with the reason: only for a broker that cannot recover by
   * itself (shown without this library), never for a failure of ours. Listed in docs/reliability.md.
   */
  brokerCannot?: Partial<Record<string, string>>
  /** Events per second per instance. @default 100 */
  rateHz?: number
  /** Starts a private broker, which the suite kills, pauses and restarts; none for the cluster adapter. */
  startBroker?: () => Promise<BrokerHandle>
  /** Sync options of an instance, JSON-safe; `uri` picks the adapter. */
  options(broker: BrokerHandle | undefined, key: string): SyncOptions
  /** Publishes each payload on the channel behind the library's back. */
  publishRaw(broker: BrokerHandle | undefined, key: string, payloads: Buffer[], via: Instance): Promise<void>
  /** The broker's version, for the figures. */
  version(broker: BrokerHandle | undefined): Promise<string>
  /** Longest time the instances may take to be ready again once the broker is back. */
  recoveryBoundMs: number
  /**
   * Cuts every publisher connection of the fleet and none of its subscriptions; resolves with how many
   * were cut. Only where the adapter publishes on a connection of its own (Redis).
   */
  cutPublishers?: (broker: BrokerHandle) => Promise<number>
  /** Started before the fleet, stopped after it (the cluster relay). */
  setup?: () => () => void
}

/** Small limits, so that the scenarios reach them: a long outage overflows the outbox. */
const COMMON: SyncOptions = { outbox: { maxMessages: 1_000 }, maxMessageBytes: 65_536 }

/** The first line a NATS server sends: `INFO {json}`. */
function natsInfo(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    const timer = setTimeout(() => socket.destroy(new Error('no INFO from nats-server')), 2_000)
    let text = ''
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString()
      if (!text.includes('\r\n')) return
      clearTimeout(timer)
      socket.destroy()
      resolve(text.slice(5, text.indexOf('\r\n')))
    })
    socket.once('error', (error) => reject(error))
  })
}

const required = (broker: BrokerHandle | undefined): BrokerHandle => {
  if (!broker) throw new Error('this target needs a broker')
  return broker
}

export const redisTarget: FaultTarget = {
  name: 'redis',
  spawn: 'process',
  startBroker: () => startRedis(),
  options: (broker, key) => ({ ...COMMON, uri: required(broker).url, key }),
  async publishRaw(broker, key, payloads) {
    const client = new Redis(required(broker).url, { maxRetriesPerRequest: 1 })
    client.on('error', () => undefined)
    try {
      for (const payload of payloads) await client.publish(key, payload)
    } finally {
      client.disconnect()
    }
  },
  // Subscribers are `pubsub` clients; `normal` ones are the publishers (and this command's own, skipped).
  cutPublishers: async (broker) =>
    Number(await redisCommand(broker.port, ['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'])),
  async version(broker) {
    const info = await redisCommand(required(broker).port, ['INFO', 'server'])
    return `Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? '?'}`
  },
  recoveryBoundMs: 20_000
}

export const natsTarget: FaultTarget = {
  name: 'nats',
  spawn: 'process',
  // nats.js 2.29 never closes a socket whose connect timed out (nats-io/nats.js#64): against a hung
  // server each reconnect attempt leaves one, until the server drops it for not answering its pings.
  // A short server ping keeps that within the suite's bound; the figures count those sockets.
  startBroker: () => startNats({ jetstream: false, config: 'ping_interval: "2s"\nping_max: 2\n' }),
  // Quick retries keep the suite short; pings notice a hung server in 2-3 s (not quicker: a burst on a
  // busy machine can hold a client's pong back for a second).
  options: (broker, key) => ({
    ...COMMON,
    uri: required(broker).url,
    key,
    natsConnectionOptions: {
      reconnectTimeWait: 250,
      reconnectJitter: 100,
      pingInterval: 1_000,
      maxPingOut: 2,
      timeout: 1_000
    }
  }),
  async publishRaw(broker, key, payloads) {
    const nc = await natsConnect({ servers: required(broker).url })
    try {
      for (const payload of payloads) nc.publish(key, payload)
      await nc.flush()
    } finally {
      await nc.close()
    }
  },
  async version(broker) {
    const info = JSON.parse(await natsInfo(required(broker).port)) as { version?: string }
    return `nats-server ${info.version ?? '?'}`
  },
  recoveryBoundMs: 20_000
}

export const amqpTarget: FaultTarget = {
  name: 'amqp',
  spawn: 'process',
  startBroker: () => startRabbitMq(),
  // Retries at most 1 s apart and a 1 s heartbeat, so that a hung broker is noticed in 2-3 s.
  options: (broker, key) => ({
    ...COMMON,
    uri: required(broker).url,
    key,
    amqpRecovery: { initialDelayMs: 100, maxDelayMs: 1_000 },
    amqpConnectionOptions: { heartbeat: 1 }
  }),
  async publishRaw(broker, key, payloads) {
    const connection = await amqpConnect(required(broker).url)
    try {
      const channel = await connection.createConfirmChannel()
      for (const payload of payloads) channel.publish(key, '', payload)
      await channel.waitForConfirms()
    } finally {
      await connection.close()
    }
  },
  async version(broker) {
    const connection = await amqpConnect(required(broker).url)
    const properties = connection.connection.serverProperties as { version?: string }
    await connection.close()
    return `RabbitMQ ${properties.version ?? '?'}`
  },
  recoveryBoundMs: 40_000
}

export const clusterTarget: FaultTarget = {
  name: 'cluster',
  spawn: 'cluster',
  options: (_broker, key) => ({ ...COMMON, uri: 'cluster://', key }),
  // The worker's IPC channel is this adapter's wire: a raw frame goes to the primary's relay.
  async publishRaw(_broker, key, payloads, via) {
    await via.run({ cmd: 'raw', key, payloads: payloads.map((payload) => payload.toString('base64')) })
  },
  version: async () => `Node ${process.version} cluster IPC`,
  recoveryBoundMs: 20_000,
  setup() {
    const relay: ClusterRelay = setupPrimary()
    return () => relay.close()
  }
}

/**
 * Durable targets: 200 events/s per instance; the outbox holds a 10 s cut-off at that rate (nothing may
 * be lost, so nothing may overflow); retention far above what any scenario needs; batched frames, the
 * setting docs/delivery-guarantees.md recommends for durable fleets (a catch-up reads and sends frames).
 * Durable mode without `batch` meets faults in test/durable-*-faults.test.ts and the cluster tests.
 */
const DURABLE: SyncOptions = {
  outbox: { maxMessages: 10_000 },
  batch: true,
  durable: { maxMessages: 1_000_000, maxAgeMs: 3_600_000 }
}

export const redisDurableTarget: FaultTarget = {
  ...redisTarget,
  name: 'redis-durable',
  durable: true,
  rateHz: 200,
  // Every write on disk before Redis answers: a SIGKILL loses nothing it acknowledged.
  startBroker: () => startRedis({ extraArgs: ['--appendonly', 'yes', '--appendfsync', 'always'] }),
  options: (broker, key) => ({ ...redisTarget.options(broker, key), ...DURABLE })
}

export const natsDurableTarget: FaultTarget = {
  ...natsTarget,
  name: 'nats-durable',
  durable: true,
  rateHz: 200,
  // JetStream on, with its store in the broker's dir, which a restart keeps.
  startBroker: () => startNats({ jetstream: true, config: 'ping_interval: "2s"\nping_max: 2\n' }),
  options: (broker, key) => ({ ...natsTarget.options(broker, key), ...DURABLE })
}

export const amqpDurableTarget: FaultTarget = {
  ...amqpTarget,
  name: 'amqp-durable',
  durable: true,
  rateHz: 200,
  // RabbitMQ 3.10 on one node, killed -9 while a stream queue takes publishes, often restarts with the
  // queue unusable: every queue.declare answers 404 "home node … of durable queue … is down or
  // inaccessible" for as long as we waited (70 s), reproduced with amqplib alone and no other client.
  brokerCannot: {
    'broker-kill': 'a single RabbitMQ 3.10 node killed -9 may not bring its stream queue back'
  },
  // Streams keep their segments in the broker's dir, which a restart keeps. RabbitMQ streams retain by
  // bytes and age only (durable.maxMessages is refused): 256 MiB is far above any scenario's volume.
  // Reconnect attempts at the adapter's default spacing (amqpRecovery left to its defaults): the 1 s of
  // the pub/sub target sets its resume hold, which durable mode does not have.
  options: (broker, key) => ({
    ...amqpTarget.options(broker, key),
    ...DURABLE,
    amqpRecovery: {},
    durable: { maxBytes: 256 * 1024 * 1024, maxAgeMs: 3_600_000 }
  })
}
