/**
 * The fault-injection suite, the same for every target: three app instances in separate processes
 * stream events to each other while each scenario injects its fault; then the suite waits for
 * recovery, lets the stream run on, stops it, waits for the last events, and accounts for every
 * event (see assess.ts). One private broker and one fleet per target, shared by its scenarios in turn.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { BrokerHandle } from '../brokers'
import { uniqueKey } from '../helpers/apps'
import { startGate, type Gate } from '../helpers/gate'
import { assess } from './assess'
import { assessDurable, joinJournal } from './durable'
import { DURABLE_SCENARIOS } from './durable-scenarios'
import { writeFigures, type ScenarioFigures } from './figures'
import { killAll, startFleet, startInstance, type Instance } from './fleet'
import type { InstanceConfig, Probe, ScenarioReport } from './protocol'
import { SCENARIOS, untilEvery, type Scenario, type ScenarioContext } from './scenarios'
import type { FaultTarget } from './targets'

const INSTANCES = 3
/** Events per second per instance in the steady stream (durable targets set their own). */
const RATE_HZ = 100
/** Events each instance must have received from every other before a fault, and sent after recovery. */
const FLOWING = 20
const AFTER_RECOVERY = 100
/** How long before a fault a message handed to the broker client may still be in flight. */
const IN_FLIGHT_MARGIN_MS = 2_000
/**
 * How long sockets a client left open after a fault may take to close: nats.js leaves timed-out
 * connection attempts open until the server drops them; on a busy machine that once took over 15 s.
 * (amqplib's half-closed sockets, which once stayed open for good, are destroyed by the adapter.)
 */
const SOCKETS_SETTLE_MS = 30_000

export function faultSuite(target: FaultTarget): void {
  const figures: ScenarioFigures[] = []
  let nextIndex = 0
  let broker: BrokerHandle | undefined
  let teardown: (() => void) | undefined
  let version = '?'
  let current = ''
  const baseline = new Map<number, Probe>()
  const key = uniqueKey(`faults-${target.name}`)
  // Durable mode: the last slot connects through a gate, and each slot has its consumer name and journal.
  let gate: Gate | undefined
  let journals = ''
  const config = (slot: number): InstanceConfig => {
    const index = nextIndex++
    const sync = target.options(broker, key)
    const rateHz = target.rateHz ?? RATE_HZ
    if (!target.durable) return { index, sync, rateHz }
    const uri =
      gate && broker && slot === INSTANCES - 1
        ? sync.uri?.replace(`:${broker.port}`, `:${gate.port}`)
        : sync.uri
    const durable = typeof sync.durable === 'object' ? sync.durable : {}
    return {
      index,
      rateHz,
      sync: { ...sync, uri, durable: { ...durable, consumerName: `slot${slot}` } },
      journal: path.join(journals, `${index}.log`)
    }
  }
  const all = <T>(run: (instance: Instance) => Promise<T>) => Promise.all(context.fleet.map(run))

  const context: ScenarioContext = {
    target,
    get broker() {
      return broker
    },
    key,
    fleet: [],
    probes: () => all((instance) => instance.run<Probe>({ cmd: 'probe' })),
    get gate() {
      return gate
    },
    async replace(victim) {
      const instance = startInstance(config(context.fleet.indexOf(victim)), target.spawn)
      await instance.started
      baseline.set(instance.index, await instance.run<Probe>({ cmd: 'probe' }))
      await instance.run({ cmd: 'begin', scenario: current })
      await instance.run({ cmd: 'stream', on: true })
      context.fleet = [...context.fleet.filter((member) => member !== victim), instance]
      return instance
    }
  }

  async function run(scenario: Scenario): Promise<void> {
    current = `${scenario.id}-${Date.now().toString(36)}`
    const started = Date.now()
    baseline.clear()
    ;(await context.probes()).forEach((probe, i) => baseline.set(context.fleet[i].index, probe))
    await all((instance) => instance.run({ cmd: 'begin', scenario: current }))
    await all((instance) => instance.run({ cmd: 'stream', on: true }))
    await untilEvery(context, 'events to flow between every pair', (probe, i) =>
      context.fleet.every(({ index }, j) => i === j || (probe.receivedFrom[index]?.count ?? 0) >= FLOWING)
    )

    const injected = await scenario.inject(context)

    await untilEvery(
      context,
      'every instance to be ready again',
      (probe) => probe.status === 'ready',
      target.recoveryBoundMs
    )
    const readyAt = Date.now()
    const marks = await context.probes()
    await untilEvery(
      context,
      `${AFTER_RECOVERY} events from every instance after recovery, and empty outboxes`,
      (probe, i) => probe.next >= marks[i].next + AFTER_RECOVERY && probe.stats.outbox.messages === 0,
      30_000
    )
    await all((instance) => instance.run({ cmd: 'stream', on: false }))
    const stopped = await context.probes()
    await untilEvery(
      context,
      "every instance to receive every other instance's last event",
      (probe, i) =>
        context.fleet.every(
          ({ index }, j) => i === j || (probe.receivedFrom[index]?.last ?? -1) >= stopped[j].next - 1
        ),
      30_000
    )

    // Sockets must come back to what each instance had before. A client may keep one a little longer
    // than the fault (see the NATS target): it is waited for, within a bound, and counted.
    const tcp = (probe: Probe | undefined) => probe?.handles.TCPSocketWrap ?? 0
    const drained = Date.now()
    const extra = (await context.probes()).map(
      (probe, i) => tcp(probe) - tcp(baseline.get(context.fleet[i].index))
    )
    await untilEvery(
      context,
      'sockets back to where they were',
      (probe, i) => tcp(probe) === tcp(baseline.get(context.fleet[i].index)),
      SOCKETS_SETTLE_MS
    ).catch(() => undefined)
    const sockets = {
      left: extra.reduce((sum, n) => sum + Math.max(0, n), 0),
      settledMs: Date.now() - drained
    }

    let reports = await all((instance) => instance.run<ScenarioReport>({ cmd: 'report', scenario: current }))
    // A durable instance restarted under its name: its books continue its predecessor's journal.
    let redelivered: [number, number][] = []
    const { restarted } = injected
    if (restarted) {
      reports = reports.map((report) => {
        if (report.index !== restarted.successor) return report
        const joined = joinJournal(report, path.join(journals, `${restarted.index}.log`), current)
        redelivered = joined.redelivered
        return joined.report
      })
    }
    const end = new Map((await context.probes()).map((probe, i) => [context.fleet[i].index, probe]))
    const crashes = context.fleet.flatMap((instance) => {
      const crash = instance.crashed()
      return crash ? [`instance ${instance.index} ${crash}`] : []
    })
    const scenarioRun = {
      scenario,
      injected,
      started,
      readyAt,
      finished: Date.now(),
      reports,
      baseline,
      end,
      crashes,
      sockets,
      marginMs: IN_FLIGHT_MARGIN_MS
    }
    const result = assess(scenarioRun)
    if (target.durable) {
      const durable = assessDurable(scenarioRun, redelivered)
      result.figures.durable = durable.figures
      result.failures.push(...durable.failures)
    }
    figures.push(result.figures)
    expect(result.failures).toEqual([])
  }

  describe(`${target.name}: faults with ${INSTANCES} instances in separate processes`, () => {
    beforeAll(async () => {
      teardown = target.setup?.()
      broker = await target.startBroker?.()
      version = await target.version(broker)
      if (target.durable && broker) {
        gate = await startGate(broker.port)
        journals = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-journals-'))
      }
      const configs = Array.from({ length: INSTANCES }, (_, slot) => config(slot))
      context.fleet = await startFleet(configs, target.spawn)
    }, 120_000)

    afterAll(async () => {
      await killAll()
      await gate?.close()
      if (journals) fs.rmSync(journals, { recursive: true, force: true })
      await broker?.stop()
      teardown?.()
      writeFigures({
        target: target.name,
        broker: version,
        node: process.version,
        date: new Date().toISOString(),
        instances: INSTANCES,
        rateHz: target.rateHz ?? RATE_HZ,
        durable: target.durable,
        outboxMaxMessages: target.options(broker, key).outbox?.maxMessages ?? 0,
        scenarios: figures
      })
    }, 60_000)

    const scenarios = target.durable ? DURABLE_SCENARIOS : SCENARIOS
    const runnable = (s: Scenario) =>
      target.brokerCannot?.[s.id] === undefined &&
      (!s.needsBroker || target.startBroker !== undefined) &&
      (!s.needsPublisherCut || target.cutPublishers !== undefined)
    for (const scenario of scenarios.filter(runnable)) {
      it(`${scenario.title}: recovers, delivers once, accounts for every event`, () => run(scenario), 120_000)
    }
  })
}
