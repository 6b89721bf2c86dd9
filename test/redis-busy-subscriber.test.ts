/**
 * A busy subscriber is not a hung server. A process that takes seconds to work through a backlog of
 * messages reads a heartbeat PING's answer (queued behind the backlog) late; the heartbeat must not
 * call the connection hung then, since dropping it throws away every message still in its buffers.
 */
import { Redis } from 'ioredis'
import { createRedisAdapter } from '../adapters/redis'
import { parseOptions } from '../src/engine/options'
import { uniqueKey } from './helpers/apps'
import { connectInstance, waitOn, type Instance } from './helpers/durable'

const REDIS_URL = process.env.FANOUT_REDIS_URL ?? ''
const describeRedis = REDIS_URL ? describe : describe.skip

jest.setTimeout(60_000)

const MESSAGES = 1_500
const BUSY_MS_PER_MESSAGE = 2
const TIMEOUT_MS = 400

/** Keeps the event loop busy, as a slow listener does. */
function busy(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until);
}

describeRedis('redis: a subscriber busy with a backlog', () => {
  let instance: Instance | undefined
  let raw: Redis | undefined
  afterEach(async () => {
    await instance?.adapter.close()
    raw?.disconnect()
    instance = raw = undefined
  })

  it(`stays connected and gets every message while handling takes ${(MESSAGES * BUSY_MS_PER_MESSAGE) / 1000} s, far above the heartbeat timeout`, async () => {
    const key = uniqueKey('busy')
    const options = parseOptions({
      uri: REDIS_URL,
      key,
      heartbeatIntervalMs: 50,
      heartbeatTimeoutMs: TIMEOUT_MS
    })
    const seen = await connectInstance('busy subscriber', createRedisAdapter(options))
    instance = seen
    let received = 0
    await seen.adapter.subscribe(() => {
      received++
      busy(BUSY_MS_PER_MESSAGE)
    })
    raw = new Redis(REDIS_URL)
    const payload = 'x'.repeat(1_000)
    const pipeline = raw.pipeline()
    for (let i = 0; i < MESSAGES; i++) pipeline.publish(key, payload)
    await pipeline.exec()
    await waitOn([seen], `all ${MESSAGES} messages (got ${received})`, () => received === MESSAGES, 20_000)
    expect({
      statuses: seen.statuses,
      errors: seen.errors.map((error) => `${error.message} (${String(error.cause)})`)
    }).toEqual({
      statuses: [],
      errors: []
    })
  })
})
