/**
 * Tests of the real-broker harness itself. The shared brokers come from test/global-setup.ts and are
 * only used, never disturbed; kill/restart tests start their own brokers.
 */
import { connect as amqpConnect } from 'amqplib'
import { Cluster, Redis } from 'ioredis'
import { connect as natsConnect, StringCodec } from 'nats'
import fs from 'node:fs'
import {
  canConnect,
  portHolders,
  ensureBinary,
  isAlive,
  processTree,
  redisCommand,
  startNats,
  startRabbitMq,
  startRedis,
  startRedisCluster,
  type BrokerHandle
} from './brokers'

const describeIf = (url: string | undefined) => (url ? describe : describe.skip)
const codec = StringCodec()

/** Rejects instead of hanging when an expected message never arrives. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

async function redisRoundTrip(url: string): Promise<string> {
  const subscriber = new Redis(url, { maxRetriesPerRequest: 1 })
  const publisher = new Redis(url, { maxRetriesPerRequest: 1 })
  try {
    const received = new Promise<string>((resolve) =>
      subscriber.on('message', (_channel, msg) => resolve(msg))
    )
    await subscriber.subscribe('fanout-harness')
    await publisher.publish('fanout-harness', 'hello redis')
    return await within(5000, 'redis message', received)
  } finally {
    subscriber.disconnect()
    publisher.disconnect()
  }
}

async function natsRoundTrip(url: string): Promise<string> {
  const nc = await natsConnect({ servers: url, reconnect: false, timeout: 5000 })
  try {
    const sub = nc.subscribe('fanout.harness', { max: 1, timeout: 5000 })
    nc.publish('fanout.harness', codec.encode('hello nats'))
    for await (const msg of sub) return codec.decode(msg.data)
    throw new Error('nats subscription ended without a message')
  } finally {
    await nc.close()
  }
}

describeIf(process.env.FANOUT_REDIS_URL)('shared Redis', () => {
  test('round-trips a PUBLISH/SUBSCRIBE message', async () => {
    expect(await redisRoundTrip(process.env.FANOUT_REDIS_URL ?? '')).toBe('hello redis')
  })
})

describeIf(process.env.FANOUT_NATS_URL)('shared NATS', () => {
  test('round-trips a message and has JetStream enabled', async () => {
    const url = process.env.FANOUT_NATS_URL ?? ''
    expect(await natsRoundTrip(url)).toBe('hello nats')
    const nc = await natsConnect({ servers: url, reconnect: false, timeout: 5000 })
    try {
      const info = await (await nc.jetstreamManager()).getAccountInfo()
      expect(info.streams).toBeGreaterThanOrEqual(0)
    } finally {
      await nc.close()
    }
  })
})

describeIf(process.env.FANOUT_AMQP_URL)('shared RabbitMQ', () => {
  test('round-trips a message through a fanout exchange', async () => {
    const connection = await amqpConnect(process.env.FANOUT_AMQP_URL ?? '', { timeout: 5000 })
    try {
      const channel = await connection.createChannel()
      await channel.assertExchange('fanout-harness', 'fanout', { durable: false, autoDelete: true })
      const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true })
      await channel.bindQueue(queue, 'fanout-harness', '')
      const received = new Promise<string>((resolve) => {
        void channel.consume(queue, (msg) => msg && resolve(msg.content.toString()), { noAck: true })
      })
      channel.publish('fanout-harness', '', Buffer.from('hello amqp'))
      expect(await within(5000, 'amqp message', received)).toBe('hello amqp')
    } finally {
      await connection.close()
    }
  })
})

describe('private brokers can be killed and restarted on the same port', () => {
  const started: BrokerHandle[] = []
  afterAll(() => Promise.all(started.map((broker) => broker.stop())))

  test('Redis: kill, restart, pause and stop', async () => {
    const redis = await startRedis()
    started.push(redis)
    const { port, dir } = redis
    expect(await redisRoundTrip(redis.url)).toBe('hello redis')

    await redis.kill()
    expect(redis.pid).toBeUndefined()
    const open = await canConnect(port, 500)
    expect(open ? `port ${port} taken by [${portHolders(port)}]` : 'closed').toBe('closed')

    await redis.restart()
    expect(redis.port).toBe(port)
    expect(redis.dir).toBe(dir)
    expect(await redisRoundTrip(redis.url)).toBe('hello redis')

    redis.pause()
    await expect(redisCommand(port, ['PING'], 300)).rejects.toThrow(/timed out/)
    redis.resume()
    expect(await redisCommand(port, ['PING'])).toBe('PONG')

    await redis.stop()
    expect(fs.existsSync(dir)).toBe(false)
    await redis.stop()
  })

  test('NATS: kill, restart with the JetStream store kept', async () => {
    const nats = await startNats()
    started.push(nats)
    expect(await natsRoundTrip(nats.url)).toBe('hello nats')
    await nats.kill()
    const open = await canConnect(nats.port, 500)
    expect(open ? `port ${nats.port} taken by [${portHolders(nats.port)}]` : 'closed').toBe('closed')
    await nats.restart()
    expect(await natsRoundTrip(nats.url)).toBe('hello nats')
  })

  test('RabbitMQ: SIGKILL takes the whole Erlang VM down and a restart works', async () => {
    const rabbit = await startRabbitMq()
    started.push(rabbit)
    const tree = [...processTree(rabbit.pid ?? -1).keys()]
    expect(tree.length).toBeGreaterThan(1) // the script and at least beam.smp

    await rabbit.kill()
    expect(tree.filter(isAlive)).toEqual([])
    // Nothing accepts on the port any more; if something does, the message says which process it is
    // (a whole run found the port answering here twice; the test alone never did).
    const open = await canConnect(rabbit.port, 500)
    expect(open ? `port ${rabbit.port} taken by [${portHolders(rabbit.port)}]` : 'closed').toBe('closed')

    await rabbit.restart()
    const connection = await amqpConnect(rabbit.url, { timeout: 5000 })
    await connection.close()
  }, 150_000)
})

describe('Redis cluster', () => {
  test('3 masters reach cluster_state:ok and serve a cluster client', async () => {
    const cluster = await startRedisCluster()
    const client = new Cluster(cluster.nodes, { clusterRetryStrategy: () => null })
    try {
      expect(cluster.nodes).toHaveLength(3)
      for (const { port } of cluster.nodes) {
        const info = await redisCommand(port, ['CLUSTER', 'INFO'])
        expect(info).toContain('cluster_state:ok')
        expect(info).toContain('cluster_known_nodes:3')
      }
      const keys = ['a', 'b', 'c', 'd', 'e', 'f']
      await Promise.all(keys.map((key) => client.set(`fanout:${key}`, key)))
      expect(await Promise.all(keys.map((key) => client.get(`fanout:${key}`)))).toEqual(keys)
    } finally {
      client.disconnect()
      await cluster.stop()
    }
  }, 60_000)
})

describe('ensureBinary', () => {
  test('returns the absolute path of an installed binary', () => {
    expect(ensureBinary('redis-server', 'redis-server')).toMatch(/^\/.*redis-server$/)
  })

  test('names the apt-get command when a binary is missing and installing is off', () => {
    expect(() =>
      ensureBinary('fanout-no-such-binary', 'fanout-fake-package', [], { install: false })
    ).toThrow(/run: (sudo )?apt-get install -y fanout-fake-package/)
  })
})
