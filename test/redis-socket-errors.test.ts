/**
 * A socket that fails twice must not crash the process. ioredis listens for a socket's first error
 * only; a TLS handshake the client refuses can be followed by the server's alert on the same socket,
 * a second error with no listener, which Node throws (seen in CI: "tlsv1 alert decode error" after a
 * certificate from another CA). The real sequence depends on timing inside OpenSSL, so the second
 * error is emitted on the adapter's real sockets here.
 */
import type { Socket } from 'node:net'
import { Redis } from 'ioredis'
import { createRedisAdapter } from '../adapters/redis'
import type { RedisClient } from '../adapters/redis/clients'
import { parseOptions } from '../src/engine/options'
import { uniqueKey, waitFor } from './helpers/apps'
import { connectInstance, subscribe, type Instance } from './helpers/durable'

const REDIS_URL = process.env.FANOUT_REDIS_URL ?? ''
const describeRedis = REDIS_URL ? describe : describe.skip

type Clients = { pub: RedisClient; sub: RedisClient }
const streamOf = (client: RedisClient) => (client as unknown as { stream: Socket }).stream

describeRedis('redis: a socket that emits a second error', () => {
  let instance: Instance | undefined
  afterEach(async () => {
    await instance?.adapter.close()
    instance = undefined
  })

  it('without the guard, ioredis leaves a second socket error unhandled (the upstream behaviour)', async () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true, retryStrategy: () => null })
    client.on('error', () => undefined)
    try {
      await client.connect()
      const stream = streamOf(client)
      stream.emit('error', new Error('first'))
      expect(() => stream.emit('error', new Error('second'))).toThrow('second')
    } finally {
      client.disconnect()
    }
  })

  it.each(['pubsub', 'durable'])(
    '%s: both connections take a second error, report the first, and come back ready',
    async (mode) => {
      const options = parseOptions({
        uri: REDIS_URL,
        key: uniqueKey('twice'),
        ...(mode === 'durable' ? { durable: true } : {})
      })
      const adapter = createRedisAdapter(options)
      instance = await connectInstance(mode, adapter)
      if (mode === 'durable') await subscribe(instance, { kind: 'tail' })
      else await adapter.subscribe(() => undefined)
      // Subscribed means up: the adapter reports status changes from here on.
      const seen = instance

      const { pub, sub } = adapter as unknown as Clients
      for (const client of [pub, sub]) {
        const stream = streamOf(client)
        stream.emit('error', new Error('handshake refused'))
        expect(() => stream.emit('error', new Error('alert after the refusal'))).not.toThrow()
        // As after a real failure, the socket then closes and ioredis reconnects.
        stream.destroy()
      }
      await waitFor(
        `${mode} ready again after both sockets failed: ${seen.describe()}`,
        () => seen.statuses.includes('reconnecting') && seen.statuses.at(-1) === 'ready'
      )
      expect(seen.errors.some(({ message }) => message.includes('handshake refused'))).toBe(true)
      expect(seen.errors.some(({ message }) => message.includes('alert after the refusal'))).toBe(false)
    }
  )
})
