/**
 * How cost grows (`--scaling`, part of the full run): feathers-fanout and the bare client on each broker
 * with 1, 2, 4 and 8 subscribing processes, at 200 B, 10 kB and 100 kB events. Per point: fan-out
 * throughput, CPU per event at the publisher, the busiest subscriber and the broker, and (200 B only)
 * the publisher's own local delivery latency at a fixed rate.
 */
import { startBroker } from './brokers'
import { startFleet, type Fleet } from './fleet'
import { join, measureBurst, measureRate } from './measure'
import { sampleFanout } from './members/service'
import type { BenchOptions } from './options'
import type { Transport } from './protocol'

export type ScalingImpl = 'fanout' | 'bare'

export interface ScalingPoint {
  transport: Transport
  impl: ScalingImpl
  subscribers: number
  size: number
  eventsPerSecond: number
  /** CPU time per event, µs: publisher, busiest subscriber, broker. */
  publisherCpuUs: number
  subscriberCpuUs: number
  serverCpuUs: number
  delivered: number
  /** Why events were lost, as the broker and the instances reported it (see measureBurst). */
  lost?: string
  /** feathers-fanout's local delivery at the publisher, ms (200 B only; null for the bare client). */
  localP50: number | null
  localP99: number | null
}

const IMPLS: ScalingImpl[] = ['fanout', 'bare']

/** The brokers of the curve: the run's transports without cluster (its relay is one Node process). */
export const scalingTransports = (options: BenchOptions): Transport[] =>
  options.transports.filter((transport) => transport !== 'cluster')

async function measureFleet(
  fleet: Fleet,
  impl: ScalingImpl,
  base: { transport: Transport; subscribers: number },
  options: BenchOptions,
  cpuSeconds: () => number,
  overLimit: () => number
): Promise<ScalingPoint[]> {
  const { scaling } = options
  if (!scaling) return []
  const points: ScalingPoint[] = []
  await join(fleet, scaling.sizes[0])
  for (const size of scaling.sizes) {
    const events = scaling.burst[size]
    await measureBurst(fleet, Math.min(options.warmUp, events), size, cpuSeconds)
    const burst = await measureBurst(fleet, events, size, cpuSeconds, overLimit)
    const local =
      impl === 'fanout' && size === scaling.sizes[0]
        ? (await measureRate(fleet, options.perSecond, options.perSecond, size, true)).local
        : null
    points.push({
      ...base,
      impl,
      size,
      eventsPerSecond: burst.eventsPerSecond,
      publisherCpuUs: burst.publisherCpuUs,
      subscriberCpuUs: burst.subscriberCpuUs,
      serverCpuUs: burst.serverCpuUs,
      delivered: burst.delivered,
      ...(burst.lost !== undefined && { lost: burst.lost }),
      localP50: local?.p50 ?? null,
      localP99: local?.p99 ?? null
    })
  }
  return points
}

/**
 * Runs the curve on every broker of the run; `print` gets one line per point, `brokerDone` the points so
 * far after each broker (so that a long run leaves its results behind as it goes).
 */
export async function benchScaling(
  options: BenchOptions,
  print: (line: string) => void,
  brokerDone: (points: ScalingPoint[]) => void = () => undefined
): Promise<ScalingPoint[]> {
  const points: ScalingPoint[] = []
  if (!options.scaling) return points
  for (const transport of scalingTransports(options)) {
    const broker = await startBroker(transport)
    try {
      for (const subscribers of options.scaling.subscribers) {
        for (const impl of IMPLS) {
          const key = `bench-scaling-${impl}-${subscribers}`
          const { context } = await sampleFanout(key, 0)
          const fleet = await startFleet({ impl, transport, url: broker.url, key, context }, subscribers)
          try {
            const measured = await measureFleet(
              fleet,
              impl,
              { transport, subscribers },
              options,
              broker.cpuSeconds,
              broker.overLimit
            )
            for (const point of measured) {
              print(
                `  ${transport} ${impl.padEnd(6)} ${String(subscribers).padStart(2)} subscribers ` +
                  `${String(point.size).padStart(6)} B: ${Math.round(point.eventsPerSecond).toLocaleString('en-US').padStart(8)} events/s, ` +
                  `CPU µs/event pub ${point.publisherCpuUs.toFixed(1)} sub ${point.subscriberCpuUs.toFixed(1)} ` +
                  `server ${point.serverCpuUs.toFixed(1)}, delivered ${point.delivered.toFixed(4)}` +
                  (point.lost === undefined
                    ? ''
                    : `\n    ${point.delivered < 1 ? 'lost' : 'reported'}: ${point.lost}`)
              )
            }
            points.push(...measured)
          } finally {
            await fleet.stop()
          }
        }
      }
    } finally {
      await broker.stop()
    }
    brokerDone(points)
  }
  return points
}
