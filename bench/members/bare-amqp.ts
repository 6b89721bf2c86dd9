/**
 * Bare amqplib: one connection and one channel per process (the adapter's count), Nagle off, a
 * fanout exchange with an exclusive queue per process, no publisher confirms: the fastest a client
 * can push, the ceiling for the adapter, which waits for confirms.
 */
import { connect } from 'amqplib'
import { BareCodec } from './bare'
import type { MemberFactory } from './types'

export const bareAmqp: MemberFactory = async ({ url, key, context }, onRecord) => {
  const codec = new BareCodec(context, onRecord)
  const connection = await connect(url, { noDelay: true })
  const channel = await connection.createChannel()
  await channel.assertExchange(key, 'fanout', { durable: false })
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false })
  await channel.bindQueue(queue, key, '')
  await channel.consume(queue, (message) => message && codec.decode(message.content), {
    noAck: true,
    exclusive: true
  })
  return {
    send: (record) => channel.publish(key, '', Buffer.from(codec.encode(record))),
    local: false
  }
}
