/** The conformance suite on NATS core pub/sub, against the shared nats-server of the test run. */
import { connect, type NatsConnection } from 'nats'
import { conformanceSuite } from './conformance'

const url = process.env.FANOUT_NATS_URL
if (!url) throw new Error('FANOUT_NATS_URL is not set: run with FANOUT_BROKERS including nats')

// One raw client for the whole file, to publish garbage the library itself would never send.
let raw: Promise<NatsConnection> | undefined
afterAll(async () => {
  if (raw) await (await raw).close()
})

conformanceSuite({
  name: 'nats',
  options: (key) => ({ uri: url, key }),
  publishRaw: async (key, payload) => {
    raw ??= connect({ servers: url })
    const nc = await raw
    nc.publish(key, payload)
    // Once the server answered the flush it has routed the message: the next barrier comes after it.
    await nc.flush()
  }
})
