/**
 * TLS to every broker. This file makes its own certificates with openssl (a CA, a server certificate for
 * 127.0.0.1 and localhost, a client certificate, and an unrelated second CA) and starts its own Redis,
 * NATS and RabbitMQ that serve TLS only and require a client certificate signed by the CA. So the
 * conformance suite passing over each one proves that the CA, the client certificate and its key all
 * reach the driver; with the other CA, `ready` must reject with the certificate problem and host:port.
 */
import { feathers } from '@feathersjs/feathers'
import { MemoryService } from '@feathersjs/memory'
import { connect as amqpConnect } from 'amqplib'
import { Redis } from 'ioredis'
import { connect as natsConnect } from 'nats'
import { sync, SyncConnectionError, type SyncOptions } from '../src/index'
import {
  createTestPki,
  startNats,
  startRabbitMq,
  startRedis,
  type BrokerHandle,
  type TestPki
} from './brokers'
import { conformanceSuite } from './conformance'
import { createTestApp, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'

jest.setTimeout(60_000)

/** Publishes raw bytes with the broker's own client, over TLS. */
interface RawClient {
  publish(key: string, payload: string | Buffer): Promise<void>
  close(): Promise<void>
}

interface TlsTarget {
  name: string
  start(pki: TestPki): Promise<BrokerHandle>
  /** Sync options that trust `ca` and present the client certificate. */
  options(broker: BrokerHandle, pki: TestPki, ca: string): SyncOptions
  raw(broker: BrokerHandle, pki: TestPki): Promise<RawClient>
}

const clientTls = (pki: TestPki, ca = pki.ca) => ({ ca, cert: pki.client.cert, key: pki.client.key })

const TARGETS: TlsTarget[] = [
  {
    name: 'redis',
    start: (pki) => startRedis({ tls: pki.brokerTls(true) }),
    options: (broker, pki, ca) => ({ uri: broker.url, redisOptions: { tls: clientTls(pki, ca) } }),
    async raw(broker, pki) {
      const client = new Redis(broker.url, { tls: clientTls(pki), lazyConnect: true })
      await client.connect()
      return {
        publish: async (key, payload) => void (await client.publish(key, payload)),
        close: async () => void (await client.quit())
      }
    }
  },
  {
    name: 'nats',
    start: (pki) => startNats({ jetstream: false, tls: pki.brokerTls(true) }),
    // Files this time: the nats client reads them itself.
    options: (broker, pki, ca) => ({
      uri: broker.url,
      natsConnectionOptions: {
        tls: ca === pki.ca ? { caFile: pki.caFile, ...clientFiles(pki) } : { ca, ...clientFiles(pki) }
      }
    }),
    async raw(broker, pki) {
      const nc = await natsConnect({ servers: broker.url, tls: clientTls(pki) })
      return {
        publish: async (key, payload) => {
          nc.publish(key, payload)
          await nc.flush()
        },
        close: () => nc.close()
      }
    }
  },
  {
    name: 'amqp',
    start: (pki) => startRabbitMq({ tls: pki.brokerTls(true) }),
    options: (broker, pki, ca) => ({ uri: broker.url, amqpConnectionOptions: clientTls(pki, ca) }),
    async raw(broker, pki) {
      const connection = await amqpConnect(broker.url, clientTls(pki))
      return {
        async publish(key, payload) {
          const channel = await connection.createConfirmChannel()
          try {
            await channel.assertExchange(key, 'fanout', { durable: false })
            channel.publish(key, '', Buffer.from(payload))
            await channel.waitForConfirms()
          } finally {
            await channel.close()
          }
        },
        close: () => connection.close()
      }
    }
  }
]

function clientFiles(pki: TestPki): { certFile: string; keyFile: string } {
  return { certFile: pki.client.certFile, keyFile: pki.client.keyFile }
}

let pki: TestPki
beforeAll(() => {
  pki = createTestPki()
})
afterAll(() => pki?.remove())

for (const target of TARGETS) {
  describe(`TLS to ${target.name}`, () => {
    let broker: BrokerHandle
    let raw: Promise<RawClient> | undefined
    let fleet: TestApp[] = []

    beforeAll(async () => {
      broker = await target.start(pki)
    })
    afterAll(async () => {
      if (raw) await (await raw).close()
      await broker?.stop()
    })
    afterEach(async () => {
      await teardownFleet(fleet)
      fleet = []
    })

    conformanceSuite({
      name: `${target.name}-tls`,
      options: (key) => ({ ...target.options(broker, pki, pki.ca), key }),
      publishRaw: async (key, payload) => (await (raw ??= target.raw(broker, pki))).publish(key, payload),
      serializers: ['json']
    })

    it('refuses a server certificate from another CA: ready rejects naming the certificate problem and host:port, and the app keeps working locally', async () => {
      const address = `127.0.0.1:${broker.port}`
      const wrong = createTestApp({
        ...target.options(broker, pki, pki.otherCa),
        key: uniqueKey('wrong-ca'),
        // Long enough for a TLS handshake to fail on a loaded machine: the rejection names its problem.
        connectTimeoutMs: 3_000
      })
      fleet = [wrong]
      const error = await wrong.app.sync.ready.then(
        () => undefined,
        (reason: unknown) => reason
      )
      expect(error).toBeInstanceOf(SyncConnectionError)
      expect((error as SyncConnectionError).target).toBe(address)
      const { message } = error as Error
      expect(message).toContain(address)
      expect(message).toMatch(/certificate/)
      expect(message).toMatch(/self-signed certificate in certificate chain|unable to verify/)
      expect(wrong.errors.some((reported) => /certificate/.test(reported.message))).toBe(true)
      // Not connected, not crashed: the local event still fires and teardown completes.
      expect(wrong.app.sync.status).not.toBe('ready')
      const marker = uniqueKey('local')
      await wrong.app.service('todos').create({ marker })
      expect(wrong.seen('created', marker)).toHaveLength(1)
    })
  })
}

describe('TLS to nats with a tls:// uri', () => {
  let broker: BrokerHandle
  beforeAll(async () => {
    broker = await startNats({ jetstream: false, tls: pki.brokerTls(true) })
  })
  afterAll(async () => {
    await broker?.stop()
  })

  it('sync.nats() takes tls://host:port with the tls option and delivers', async () => {
    const key = uniqueKey('tls-uri')
    const apps = [feathers(), feathers()]
    const seen: unknown[] = []
    for (const app of apps) {
      app.configure(
        sync.nats({
          uri: broker.url.replace('nats:', 'tls:'),
          key,
          natsConnectionOptions: { tls: clientTls(pki) }
        })
      )
      app.use('todos', new MemoryService())
    }
    try {
      await Promise.all(apps.map((app) => app.sync.ready))
      apps[1].service('todos').on('created', (data: unknown) => seen.push(data))
      await apps[0].service('todos').create({ text: 'over tls://' })
      await waitFor('the event over tls://', () => seen.length === 1)
    } finally {
      await Promise.all(apps.map((app) => app.teardown()))
    }
  })
})
