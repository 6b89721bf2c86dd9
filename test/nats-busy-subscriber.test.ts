/**
 * A busy NATS subscriber is not a hung server. The server's PONG travels in the same stream as the
 * messages, behind everything queued for the client: a subscriber seconds behind (a slow listener, large
 * messages, a loaded machine) reads it late. Taking that for a stale connection and reconnecting throws
 * away every message in flight, which plain pub/sub never sends again.
 */
import { connect, type NatsConnection } from 'nats'
import { createNatsAdapter } from '../adapters/nats'
import { parseOptions } from '../src/engine/options'
import { startNats, type BrokerHandle } from './brokers'
import { uniqueKey } from './helpers/apps'
import { connectInstance, waitOn, type Instance } from './helpers/durable'

jest.setTimeout(60_000)

// 4,000 × 10 kB: 40 MB, handled at about 1.5 ms each (6 s), three times the default ping interval.
const MESSAGES = 4_000
const PAYLOAD_BYTES = 10_240
const BUSY_MS_PER_MESSAGE = 1.5

/** Keeps the event loop busy, as a slow listener does. */
function busy(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until);
}

let broker: BrokerHandle | undefined
let instance: Instance | undefined
let raw: NatsConnection | undefined

afterEach(async () => {
  await instance?.adapter.close()
  await raw?.close()
  await broker?.stop()
  broker = instance = raw = undefined
})

describe('nats: a subscriber busy with a backlog, on default options', () => {
  it(`stays ready and gets every message once, in order, while working ${(MESSAGES * BUSY_MS_PER_MESSAGE) / 1000} s behind`, async () => {
    // Well above the 40 MB sent: the server must not cut the client as a slow consumer here.
    broker = await startNats({ jetstream: false, config: 'max_pending: 256MB' })
    const key = uniqueKey('busy')
    const seen = await connectInstance(
      'busy subscriber',
      createNatsAdapter(parseOptions({ uri: broker.url, key }))
    )
    instance = seen
    const received: number[] = []
    await seen.adapter.subscribe((payload) => {
      received.push(Buffer.from(payload).readUInt32BE(0))
      busy(BUSY_MS_PER_MESSAGE)
    })
    raw = await connect({ servers: broker.url })
    for (let i = 0; i < MESSAGES; i++) {
      // One buffer each: the client keeps a reference until it writes the message out.
      const payload = Buffer.alloc(PAYLOAD_BYTES, 'x')
      payload.writeUInt32BE(i, 0)
      raw.publish(key, payload)
    }
    await raw.flush()
    const describe = () =>
      `${received.length} received, statuses [${seen.statuses.join(', ')}], ` +
      `errors [${seen.errors.map((error) => error.message).join(' | ')}]`
    await waitOn(
      [seen],
      `all ${MESSAGES} messages, or a lost connection`,
      () => received.length >= MESSAGES || seen.statuses.includes('reconnecting'),
      40_000
    )
    const state = describe()
    const inOrder = received.every((n, i) => n === i)
    expect({ statuses: seen.statuses, count: received.length, inOrder, state }).toEqual({
      statuses: ['ready'],
      count: MESSAGES,
      inOrder: true,
      state
    })
    expect(seen.errors).toEqual([])
  })
})
