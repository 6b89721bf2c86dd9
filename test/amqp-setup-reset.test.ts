/**
 * A connection reset while the adapter sets up its channel (after the AMQP handshake, before amqplib
 * watches the new connection for errors). amqplib 2.3 then threw the socket error out of its own error
 * handling, never closed the connection, and its recovery waited on the setup forever: the instance
 * stayed `reconnecting` (found by the RabbitMQ restart-loop fault scenario). And a broker that stops
 * answering during setup: amqplib's recovery waits for setup without a bound.
 */
import net from 'node:net'
import { barrier, createFleet, teardownFleet, uniqueKey, type TestApp } from './helpers/apps'

const url = process.env.FANOUT_AMQP_URL
if (!url) throw new Error('FANOUT_AMQP_URL is not set: run with FANOUT_BROKERS including rabbitmq')
const brokerPort = Number(new URL(url).port)

/**
 * A relay to RabbitMQ that resets the first `resets` connections at the first frame the client sends on
 * a channel other than 0 (its channel.open, sent by the adapter's setup). With `stall`, it keeps those
 * connections open instead and from then on forwards nothing RabbitMQ sends on them.
 */
async function resettingRelay(
  resets: number,
  stall = false
): Promise<{ port: number; reset: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const relay = {
    port: 0,
    reset: 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
  const server = net.createServer((client) => {
    const upstream = net.connect(brokerPort, '127.0.0.1')
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => socket.destroy())
      socket.on('close', () => sockets.delete(socket))
    }
    upstream.pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    let armed = relay.reset < resets
    let seen = Buffer.alloc(0)
    client.on('data', (chunk: Buffer) => {
      if (armed && !client.destroyed) {
        seen = Buffer.concat([seen, chunk])
        // Frames after the 8-byte protocol header: type (1), channel (2), size (4), payload, 0xCE.
        for (let at = 8; at + 7 <= seen.length;) {
          const channel = seen.readUInt16BE(at + 1)
          if (channel !== 0) {
            relay.reset++
            if (stall) {
              upstream.unpipe(client)
              armed = false
              break
            }
            upstream.destroy()
            client.resetAndDestroy()
            return
          }
          at += 7 + seen.readUInt32BE(at + 3) + 1
        }
      }
      upstream.write(chunk)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  relay.port = (server.address() as net.AddressInfo).port
  const close = relay.close
  relay.close = async () => {
    for (const socket of sockets) socket.destroy()
    await close()
  }
  return relay
}

let fleet: TestApp[] = []
afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
})

it('recovers from a connection reset during channel setup', async () => {
  const relay = await resettingRelay(3)
  try {
    const key = uniqueKey('amqp-setup-reset')
    const relayed = new URL(url)
    relayed.port = String(relay.port)
    fleet = await createFleet(2, {
      uri: relayed.toString(),
      key,
      connectTimeoutMs: 20_000,
      amqpRecovery: { initialDelayMs: 50, maxDelayMs: 200 }
    }).catch(async (error: Error) => {
      throw new Error(`${error.message}; resets: ${relay.reset}`)
    })
    // Connections accepted at the same time may all be armed: at least 3 were reset.
    expect(relay.reset).toBeGreaterThanOrEqual(3)
    // Events flow both ways on the recovered connections.
    await barrier(fleet, fleet[0])
    await barrier(fleet, fleet[1])
  } finally {
    await relay.close()
  }
}, 40_000)

it('tries again when RabbitMQ stops answering during channel setup', async () => {
  const relay = await resettingRelay(1, true)
  try {
    const relayed = new URL(url)
    relayed.port = String(relay.port)
    // No heartbeat, which would otherwise end the stalled connection after 2-3 intervals; each attempt
    // (handshake, then setup) is bounded by 1.5 s.
    fleet = await createFleet(1, {
      uri: relayed.toString(),
      key: uniqueKey('amqp-setup-stall'),
      connectTimeoutMs: 20_000,
      amqpConnectionOptions: { heartbeat: 0, timeout: 1_500 },
      amqpRecovery: { initialDelayMs: 50, maxDelayMs: 200 }
    }).catch(async (error: Error) => {
      throw new Error(`${error.message}; stalled: ${relay.reset}`)
    })
    expect(relay.reset).toBe(1)
    expect(fleet[0].app.sync.status).toBe('ready')
  } finally {
    await relay.close()
  }
}, 40_000)
