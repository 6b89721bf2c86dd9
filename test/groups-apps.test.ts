/**
 * Consumer groups through Feathers apps on RabbitMQ and NATS JetStream (the shared servers of the run),
 * the same suite as Redis and memory (see test/helpers/groups-suite.ts). RabbitMQ group deliveries carry
 * no position, so this is also where errors must name a message by its idempotency key.
 */
import { groupSuite, uniqueGroupKey } from './helpers/groups-suite'

const AMQP_URL = process.env.FANOUT_AMQP_URL
const NATS_URL = process.env.FANOUT_NATS_URL
if (!AMQP_URL || !NATS_URL)
  throw new Error('FANOUT_AMQP_URL and FANOUT_NATS_URL must be set (FANOUT_BROKERS)')

groupSuite('rabbitmq', () => ({ uri: AMQP_URL, key: uniqueGroupKey(), durable: true }))
groupSuite('nats', () => ({ uri: NATS_URL, key: uniqueGroupKey(), durable: true }))
