/**
 * Publish and delivery rates of the two RabbitMQ layouts that keep messages for an absent instance, on
 * one private broker in the same run: one stream queue read by every instance (what durable mode uses),
 * and one durable queue per instance behind a fanout exchange (classic, then quorum). Each layout:
 * CONSUMERS consumers, MESSAGES persistent messages of PAYLOAD_BYTES published with confirms in
 * windows of WINDOW, timed until every consumer has all of them.
 *
 *   npx tsx scripts/amqp-durable-layouts.ts [messages] [consumers]
 */
import { connect, type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib'
import { startRabbitMq } from '../test/brokers'

const MESSAGES = Number(process.argv[2] ?? 20_000)
const CONSUMERS = Number(process.argv[3] ?? 3)
const PAYLOAD_BYTES = 200
const WINDOW = 500
const PREFETCH = 500

interface Layout {
  name: string
  /** Declares what the layout needs; returns the exchange and routing key to publish to, and the queue of each consumer. */
  declare(channel: Channel, run: string): Promise<{ exchange: string; routingKey: string; queues: string[] }>
  consumeArguments?: Record<string, unknown>
}

const perInstance = (type: 'classic' | 'quorum'): Layout => ({
  name: `${CONSUMERS} durable ${type} queues behind a fanout exchange`,
  async declare(channel, run) {
    const exchange = `${run}.fanout`
    await channel.assertExchange(exchange, 'fanout', { durable: true })
    const queues: string[] = []
    for (let i = 0; i < CONSUMERS; i++) {
      const queue = `${run}.instance-${i}`
      await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': type } })
      await channel.bindQueue(queue, exchange, '')
      queues.push(queue)
    }
    return { exchange, routingKey: '', queues }
  }
})

const LAYOUTS: Layout[] = [
  {
    name: `one stream queue read by ${CONSUMERS} consumers`,
    async declare(channel, run) {
      const stream = `${run}.stream`
      await channel.assertQueue(stream, { durable: true, arguments: { 'x-queue-type': 'stream' } })
      return { exchange: '', routingKey: stream, queues: Array.from({ length: CONSUMERS }, () => stream) }
    },
    consumeArguments: { 'x-stream-offset': 'next' }
  },
  perInstance('classic'),
  perInstance('quorum')
]

async function consume(
  model: ChannelModel,
  queue: string,
  layout: Layout,
  onDone: () => void
): Promise<void> {
  const channel = await model.createChannel()
  await channel.prefetch(PREFETCH)
  let count = 0
  await channel.consume(
    queue,
    (message) => {
      if (!message) return
      channel.ack(message)
      if (++count === MESSAGES) onDone()
    },
    { arguments: layout.consumeArguments }
  )
}

async function publish(channel: ConfirmChannel, exchange: string, routingKey: string): Promise<void> {
  const body = Buffer.alloc(PAYLOAD_BYTES, 'x')
  for (let sent = 0; sent < MESSAGES;) {
    const end = Math.min(MESSAGES, sent + WINDOW)
    for (; sent < end; sent++) channel.publish(exchange, routingKey, body, { persistent: true })
    await channel.waitForConfirms()
  }
}

async function measure(url: string, layout: Layout, run: string): Promise<void> {
  const models = await Promise.all(Array.from({ length: CONSUMERS + 1 }, () => connect(url)))
  const [publisherModel, ...consumerModels] = models
  const channel = await publisherModel.createConfirmChannel()
  const { exchange, routingKey, queues } = await layout.declare(channel, run)
  let done = 0
  let allDone: () => void = () => undefined
  const delivered = new Promise<void>((resolve) => (allDone = resolve))
  await Promise.all(
    queues.map((queue, i) =>
      consume(consumerModels[i], queue, layout, () => ++done === CONSUMERS && allDone())
    )
  )
  const started = process.hrtime.bigint()
  await publish(channel, exchange, routingKey)
  const published = process.hrtime.bigint()
  // Bounded: the script gives up after 120 s.
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`${layout.name}: not delivered in 120 s`)), 120_000).unref()
  )
  await Promise.race([delivered, timeout])
  const finished = process.hrtime.bigint()
  const rate = (ns: bigint) => Math.round(MESSAGES / (Number(ns) / 1e9))
  console.log(
    `${layout.name}: published+confirmed ${rate(published - started)} msg/s, ` +
      `all ${CONSUMERS} consumers had every message at ${rate(finished - started)} msg/s`
  )
  await Promise.all(models.map((model) => model.close()))
}

async function main(): Promise<void> {
  const broker = await startRabbitMq()
  try {
    console.log(
      `${MESSAGES} messages of ${PAYLOAD_BYTES} bytes, ${CONSUMERS} consumers, confirm window ${WINDOW}`
    )
    for (const [i, layout] of LAYOUTS.entries()) await measure(broker.url, layout, `layouts-${i}`)
  } finally {
    await broker.stop()
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
