import type { Adapter, ResolvedOptions } from '../../src/adapter'
import { NatsDurableAdapter } from './durable'
import { parseNatsDurable } from './durable-options'
import { parseNatsOptions, type NatsAdapterOptions } from './options'
import { NatsAdapter } from './pubsub'

export type { NatsAdapterOptions } from './options'

/**
 * Creates the NATS adapter; options are checked here, at configure time. With `durable` it also
 * implements DurableLog on a JetStream stream.
 */
export function createNatsAdapter(options: ResolvedOptions & NatsAdapterOptions): Adapter {
  const settings = parseNatsOptions(options)
  const durable = parseNatsDurable(options)
  return durable ? new NatsDurableAdapter(settings, durable) : new NatsAdapter(settings)
}
