/**
 * The faults themselves. Each one is injected while every instance streams events, and returns when
 * the fault is over; the suite (test/faults/suite.ts) then waits for recovery and does the accounting.
 */
import { canConnect, type BrokerHandle } from '../brokers'
import type { Gate } from '../helpers/gate'
import type { FaultWindow } from './accounting'
import type { Instance } from './fleet'
import { describeStats } from '../helpers/fleet-state'
import { garbage } from './garbage'
import type { Probe } from './protocol'
import type { FaultTarget } from './targets'

/** What a scenario can reach while it runs. */
export interface ScenarioContext {
  target: FaultTarget
  broker: BrokerHandle | undefined
  key: string
  /** The live instances; a scenario may replace one. */
  fleet: Instance[]
  /** Durable suite: the TCP gate between the last instance of the fleet and the broker. */
  gate?: Gate
  /**
   * Starts a new instance that joins the fleet in the victim's place, streaming in the current scenario
   * (in durable mode under the victim's consumer name, behind the same gate).
   */
  replace(victim: Instance): Promise<Instance>
  probes(): Promise<Probe[]>
}

export interface Injected {
  /** When the broker was dead or hung. */
  windows: FaultWindow[]
  /** End of the fault: recovery is timed from here. */
  endedAt: number
  /** Drop counters every instance must have grown by exactly this much. */
  expectedDrops?: Garbage['expected']
  /** Burst: events per instance, and how long until every instance had all of them. */
  burst?: { perInstance: number; drainedMs: number }
  /** An instance killed mid-stream: its index, and how many events it had created when last asked. */
  killed?: { index: number; knownEnd: number }
  /** No event may be missed, whatever the receivers' status said (the fault never reached them). */
  expectEvery?: boolean
  /** Durable mode: the killed instance was restarted under its consumer name as `successor`. */
  restarted?: { index: number; successor: number; killedAt: number }
}
type Garbage = ReturnType<typeof garbage>

export interface Scenario {
  id: string
  title: string
  /** Only for targets with a broker to kill, pause and restart. */
  needsBroker: boolean
  /** Only for targets that can cut the publishers' connections alone (see FaultTarget.cutPublishers). */
  needsPublisherCut?: boolean
  inject(context: ScenarioContext): Promise<Injected>
}

/** The fault lasts at least this long, and until every instance has noticed it. */
const OUTAGE_MS = 1_500
/** How long the broker stays hung (SIGSTOP). */
const PAUSE_MS = 6_000
/** How long the broker stays up between the kills of the restart loop: some instances are back, some not. */
const LOOP_UPTIMES_MS = [0, 200, 500, 1_000, 2_000]
const BURST_PER_INSTANCE = 2_000
/** The publishers' connections are cut this often, this many times (an idle timeout in a proxy). */
const FLAP_EVERY_MS = 1_000
const FLAPS = 20

const broker = (context: ScenarioContext): BrokerHandle => {
  if (!context.broker) throw new Error(`${context.target.name} has no broker`)
  return context.broker
}

/**
 * Kills the broker and starts it again on its port. Why wait for the port: right after a SIGKILL a
 * RabbitMQ helper process can hold the listening socket for a moment, and the harness refuses to start
 * on a port that still accepts connections.
 */
async function killAndRestart(context: ScenarioContext): Promise<void> {
  const handle = broker(context)
  await handle.kill('SIGKILL')
  const deadline = Date.now() + 10_000
  while (await canConnect(handle.port, 250)) {
    if (Date.now() > deadline) throw new Error(`port ${handle.port} still accepts connections after the kill`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await handle.restart()
}
// Only for the length of a fault, never to wait for readiness.
const lasting = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls the instances (bounded) until `check` holds for every one; probes come in fleet order. */
export async function untilEvery(
  context: ScenarioContext,
  what: string,
  check: (probe: Probe, position: number) => boolean,
  timeoutMs = 15_000
): Promise<Probe[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const probes = await context.probes()
    if (probes.every(check)) return probes
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${what}; not yet:\n${probeState(context, probes, check)}`
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The instances `check` fails for: index, status, counters and errors by code, one line each. */
function probeState(
  context: ScenarioContext,
  probes: Probe[],
  check: (probe: Probe, position: number) => boolean
): string {
  return probes
    .map((probe, i) => ({ probe, i }))
    .filter(({ probe, i }) => !check(probe, i))
    .map(({ probe, i }) => {
      const errors = Object.entries(probe.errors).map(([code, n]) => `${code} ${n}`)
      return (
        `  instance ${context.fleet[i]?.index ?? i}: ${probe.status}; ${describeStats(probe.stats)}` +
        (errors.length > 0 ? `; errors by code {${errors.join(', ')}}, last: ${probe.lastError}` : '') +
        (probe.problems.length > 0 ? `; process problems: ${probe.problems.join(' | ')}` : '')
      )
    })
    .join('\n')
}

export const SCENARIOS: Scenario[] = [
  {
    id: 'garbage',
    title: 'garbage, truncated, wrong-shape, unknown-path and oversize messages on the channel',
    needsBroker: false,
    async inject(context) {
      const bad = garbage(context.target.options(context.broker, context.key).maxMessageBytes as number)
      const before = await context.probes()
      await context.target.publishRaw(context.broker, context.key, bad.payloads, context.fleet[0])
      const total = Object.values(bad.expected).reduce((sum, n) => sum + (n ?? 0), 0)
      const dropped = (probe: Probe) => Object.values(probe.stats.dropped).reduce((sum, n) => sum + n, 0)
      await untilEvery(
        context,
        'every instance to count the garbage',
        (probe, i) => dropped(probe) >= dropped(before[i]) + total
      )
      return { windows: [], endedAt: Date.now(), expectedDrops: bad.expected }
    }
  },
  {
    id: 'burst',
    title: `a burst of ${BURST_PER_INSTANCE} events per instance, far above the steady rate`,
    needsBroker: false,
    async inject(context) {
      const started = Date.now()
      await Promise.all(
        context.fleet.map((instance) => instance.run({ cmd: 'burst', count: BURST_PER_INSTANCE }))
      )
      const sent = await context.probes()
      const ends = new Map(context.fleet.map((instance, i) => [instance.index, sent[i].next - 1]))
      await untilEvery(context, 'every instance to receive the whole burst', (probe) =>
        context.fleet.every(
          ({ index }) =>
            probe.receivedFrom[index] === undefined ||
            probe.receivedFrom[index].last >= (ends.get(index) ?? 0)
        )
      )
      return {
        windows: [],
        endedAt: Date.now(),
        burst: { perInstance: BURST_PER_INSTANCE, drainedMs: Date.now() - started }
      }
    }
  },
  {
    id: 'instance-kill',
    title: 'an instance killed with SIGKILL mid-stream and replaced',
    needsBroker: false,
    async inject(context) {
      const victim = context.fleet[context.fleet.length - 1]
      const { next } = await victim.run<Probe>({ cmd: 'probe' })
      await victim.kill()
      const endedAt = Date.now()
      await context.replace(victim)
      return { windows: [], endedAt, killed: { index: victim.index, knownEnd: next } }
    }
  },
  {
    id: 'broker-kill',
    title: 'the broker killed with SIGKILL and restarted on the same port',
    needsBroker: true,
    async inject(context) {
      const from = Date.now()
      await broker(context).kill('SIGKILL')
      await untilEvery(context, 'every instance to notice the outage', (probe) => probe.status !== 'ready')
      await lasting(Math.max(0, from + OUTAGE_MS - Date.now()))
      await killAndRestart(context)
      const to = Date.now()
      return { windows: [{ from, to }], endedAt: to }
    }
  },
  {
    id: 'broker-pause',
    title: `the broker hung with SIGSTOP for ${PAUSE_MS / 1000} s, then resumed (a partition)`,
    needsBroker: true,
    async inject(context) {
      const from = Date.now()
      broker(context).pause()
      try {
        await lasting(PAUSE_MS)
      } finally {
        broker(context).resume()
      }
      const to = Date.now()
      return { windows: [{ from, to }], endedAt: to }
    }
  },
  {
    id: 'publisher-flap',
    title: `every instance's publisher connection cut every ${FLAP_EVERY_MS / 1000} s for ${(FLAPS * FLAP_EVERY_MS) / 1000} s, subscriptions untouched`,
    needsBroker: true,
    needsPublisherCut: true,
    async inject(context) {
      const { cutPublishers } = context.target
      if (!cutPublishers) throw new Error(`${context.target.name} cannot cut publishers alone`)
      for (let flap = 0; flap < FLAPS; flap++) {
        const next = Date.now() + FLAP_EVERY_MS
        const cut = await cutPublishers(broker(context))
        if (cut === 0) throw new Error(`flap ${flap}: no publisher connection to cut`)
        await lasting(Math.max(0, next - Date.now()))
      }
      return { windows: [], endedAt: Date.now(), expectEvery: true }
    }
  },
  {
    id: 'broker-restart-loop',
    title: `the broker killed and restarted ${LOOP_UPTIMES_MS.length} times in a row`,
    needsBroker: true,
    async inject(context) {
      const windows: FaultWindow[] = []
      for (const uptime of LOOP_UPTIMES_MS) {
        const from = Date.now()
        await killAndRestart(context)
        windows.push({ from, to: Date.now() })
        await lasting(uptime)
      }
      return { windows, endedAt: windows[windows.length - 1].to }
    }
  }
]
