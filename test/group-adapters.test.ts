/**
 * The group capability at the adapter level, with plain callbacks, on the memory adapter and on Redis
 * streams (the shared redis-server), plus what is Redis's own: the dead letter stream.
 */
import { Redis } from 'ioredis'
import { createMemoryAdapter } from '../adapters/memory'
import { createRedisAdapter } from '../adapters/redis'
import type { DurableRedisAdapter } from '../adapters/redis/durable'
import { parseOptions } from '../src/engine/options'
import { uniqueKey } from './helpers/apps'
import { groupConformance, type GroupAdapter } from './helpers/group-conformance'

const REDIS_URL = process.env.FANOUT_REDIS_URL ?? ''

groupConformance(
  'memory',
  (key) => createMemoryAdapter(parseOptions({ uri: `memory://${key}`, key, durable: true })) as GroupAdapter
)

if (REDIS_URL) {
  const make = (key: string) =>
    createRedisAdapter(parseOptions({ uri: REDIS_URL, key, durable: true })) as unknown as DurableRedisAdapter
  groupConformance('redis', make)

  describe('redis dead letters', () => {
    it('keeps a dead letter in the stream {key}:dead:<group>', async () => {
      const key = uniqueKey('dead')
      const adapter = make(key)
      const raw = new Redis(REDIS_URL)
      try {
        await adapter.connect({ status: () => undefined, error: () => undefined })
        await adapter.storeDeadLetter('mail', {
          id: 'abc:1',
          payload: Buffer.from([1, 2, 3]),
          position: '5-0',
          attempts: 5,
          reason: 'boom'
        })
        const [[, fields]] = await raw.xrangeBuffer(`{${key}}:dead:mail`, '-', '+')
        const entry = new Map<string, Buffer>()
        for (let i = 0; i < fields.length; i += 2) entry.set(fields[i].toString(), fields[i + 1])
        expect(entry.get('p')).toEqual(Buffer.from([1, 2, 3]))
        expect(entry.get('id')?.toString()).toBe('abc:1')
        expect(entry.get('position')?.toString()).toBe('5-0')
        expect(entry.get('attempts')?.toString()).toBe('5')
        expect(entry.get('reason')?.toString()).toBe('boom')
      } finally {
        await adapter.close()
        raw.disconnect()
      }
    })
  })
}
