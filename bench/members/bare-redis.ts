/**
 * Bare ioredis: one publishing and one subscribing connection per process (the connection count of
 * the adapter), auto-pipelining on the publisher, PUBLISH/SUBSCRIBE on one channel.
 */
import { Redis } from 'ioredis'
import { BareCodec } from './bare'
import type { MemberFactory } from './types'

export const bareRedis: MemberFactory = async ({ url, key, context }, onRecord) => {
  const codec = new BareCodec(context, onRecord)
  const pub = new Redis(url, { enableAutoPipelining: true })
  const sub = new Redis(url)
  sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => codec.decode(message))
  await sub.subscribe(key)
  await pub.ping()
  return {
    send: (record) => pub.publish(key, codec.encode(record)),
    local: false
  }
}
