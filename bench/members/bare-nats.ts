/**
 * Bare nats.js: one connection per process (the adapter's count), no echo of its own messages (the
 * adapter's default too), core publish/subscribe on one subject, fire and forget.
 */
import { connect } from 'nats'
import { BareCodec } from './bare'
import type { MemberFactory } from './types'

export const bareNats: MemberFactory = async ({ url, key, context }, onRecord) => {
  const codec = new BareCodec(context, onRecord)
  const nc = await connect({ servers: new URL(url).host, noEcho: true })
  nc.subscribe(key, { callback: (error, message) => error || codec.decode(message.data) })
  // The server has the subscription once a flush has come back.
  await nc.flush()
  return {
    send: (record) => nc.publish(key, Buffer.from(codec.encode(record))),
    local: false
  }
}
