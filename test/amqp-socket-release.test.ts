/**
 * The socket of a connection the AMQP adapter lost goes away with it. After a heartbeat timeout amqplib
 * only half-closes its socket, and once a frame arrives after that close it stops reading: Node then
 * never hears of the broker's end, and the socket (and its file descriptor) stayed open for good. That
 * happened when a hung RabbitMQ resumed and went on streaming deliveries to a consumer whose client had
 * already given up (the fault suite's SIGSTOP scenario). A relay in front of a private broker plays it
 * out every time: it holds the stream back until the client gives up, then hands it what it held.
 */
import net from 'node:net'
import type { DurableLog } from '../src/adapter'
import { parseOptions } from '../src/engine/options'
import type { SyncStatus } from '../src/index'
import { createAmqpAdapter, type AmqpAdapter } from '../adapters/amqp'
import { startRabbitMq, type BrokerHandle } from './brokers'
import { uniqueKey, waitFor } from './helpers/apps'
import { openSockets } from './helpers/sockets'

jest.setTimeout(120_000)

type Durable = AmqpAdapter & DurableLog

interface Opened {
  adapter: Durable
  statuses: SyncStatus[]
}

interface Relay {
  port: number
  /** Stops relaying on the live connections; a client that ends one then gets what the broker sent. */
  hold(): void
  /** Bytes held back from the clients since hold(). */
  held(): number
  close(): Promise<void>
}

/** The relay hands a client what it held back in pieces of this size, this often. */
const PIECE_BYTES = 4_096
const PIECE_MS = 2
/** Messages of 1 kB in the stream before the subscriber starts. */
const BACKLOG = 1_000

let broker: BrokerHandle | undefined
let relay: Relay | undefined
const opened: Opened[] = []

afterAll(async () => {
  await Promise.all(opened.map(({ adapter }) => adapter.close()))
  await relay?.close()
  await broker?.stop()
})

async function startRelay(brokerPort: number): Promise<Relay> {
  const sockets = new Set<net.Socket>()
  const holds: (() => void)[] = []
  let heldBytes = 0
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ port: brokerPort, host: '127.0.0.1', allowHalfOpen: true })
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => socket.destroy())
      socket.on('close', () => sockets.delete(socket))
    }
    client.pipe(upstream).pipe(client)
    holds.push(() => {
      client.unpipe(upstream)
      upstream.unpipe(client)
      const fromBroker: Buffer[] = []
      // Unpiped streams are paused: a 'data' listener alone would not restart them.
      upstream
        .on('data', (chunk: Buffer) => {
          heldBytes += chunk.length
          fromBroker.push(chunk)
        })
        .resume()
      // What the client sends is dropped: the broker hears nothing, as if it hung.
      client.on('data', () => undefined).resume()
      // The client gave up: the broker goes on streaming what it had queued, as RabbitMQ does on
      // resuming (a piece every few ms, as a network delivers it), then closes.
      client.once('end', () => {
        const rest = Buffer.concat(fromBroker)
        let at = 0
        const pacing = setInterval(() => {
          if (client.destroyed || at >= rest.length) {
            clearInterval(pacing)
            return void client.end()
          }
          client.write(rest.subarray(at, (at += PIECE_BYTES)))
        }, PIECE_MS)
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    hold: () => holds.splice(0).forEach((hold) => hold()),
    held: () => heldBytes,
    close: () => {
      sockets.forEach((socket) => socket.destroy())
      return new Promise((resolve) => server.close(() => resolve()))
    }
  }
}

async function open(uri: string, key: string): Promise<Opened> {
  const adapter = createAmqpAdapter(
    parseOptions({
      uri,
      key,
      durable: true,
      amqpRecovery: { initialDelayMs: 50, maxDelayMs: 300 },
      // A silent broker noticed in 2-3 s.
      amqpConnectionOptions: { heartbeat: 1 }
    })
  ) as Durable
  const entry: Opened = { adapter, statuses: [] }
  opened.push(entry)
  await adapter.connect({ status: (status) => entry.statuses.push(status), error: () => undefined })
  return entry
}

const statusOf = ({ statuses }: Opened) => statuses[statuses.length - 1]

it('closes the socket of a connection it gave up on, even while the broker goes on sending', async () => {
  broker = await startRabbitMq()
  relay = await startRelay(broker.port)
  const key = uniqueKey('socket-release')
  const publisher = await open(broker.url, key)
  const payload = 'x'.repeat(1_000)
  for (let batch = 0; batch < BACKLOG / 500; batch++) {
    await Promise.all(Array.from({ length: 500 }, () => publisher.adapter.publishDurable(payload)))
  }
  const subscriber = await open(broker.url.replace(`:${broker.port}`, `:${relay.port}`), key)
  let received = 0
  await subscriber.adapter.subscribeDurable(
    { kind: 'head' },
    { message: () => received++, gap: () => undefined }
  )
  const { port } = relay
  const state = () =>
    `status ${statusOf(subscriber)}; ${received} received; ${relay?.held()} bytes held; ` +
    `sockets to the relay: ${JSON.stringify(openSockets(port))}`
  // As soon as it consumes: RabbitMQ sends up to the prefetch (500 messages) ahead of its acks.
  relay.hold()
  await waitFor(
    () => `the subscriber to give up on the silent connection (${state()})`,
    () => subscriber.statuses.includes('reconnecting')
  )
  await waitFor(
    () => `the subscriber to be ready again (${state()})`,
    () => statusOf(subscriber) === 'ready'
  )
  await waitFor(
    () => `the whole backlog (${state()})`,
    () => received === BACKLOG,
    30_000
  )
  expect(relay.held()).toBeGreaterThan(64 * 1024)

  // Its live connection only: the one it gave up on is closed.
  await waitFor(
    () => `one socket (${state()})`,
    () => openSockets(port).length === 1,
    10_000
  )
  expect(openSockets(port)[0]).toMatch(/ open /)
})
