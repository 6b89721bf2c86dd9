/**
 * The faults of the durable suite: the broker killed and restarted on its persisted data, the broker
 * hung, one instance cut off from the broker while the others publish, and one instance SIGKILLed and
 * restarted under its consumer name. In durable mode none of them may lose an event the broker took.
 */
import type { Instance } from './fleet'
import type { Probe } from './protocol'
import { SCENARIOS, type Scenario, type ScenarioContext } from './scenarios'

/** How long one instance stays cut off from the broker while the others publish. */
const CUT_MS = 10_000

const reused = (id: string): Scenario => {
  const scenario = SCENARIOS.find((s) => s.id === id)
  if (!scenario) throw new Error(`no scenario ${id}`)
  return scenario
}

/** The instance behind the gate (the last slot of the fleet). */
const gated = (context: ScenarioContext): Instance => context.fleet[context.fleet.length - 1]

/** Waits (bounded) until `instance` has noticed that it lost the broker. */
async function noticed(instance: Instance, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const probe = await instance.run<Probe>({ cmd: 'probe' })
    if (probe.status !== 'ready') return
    if (Date.now() > deadline) {
      throw new Error(`instance ${instance.index} still ${probe.status} ${timeoutMs} ms after the cut`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

// Only for the length of a fault, never to wait for readiness.
const lasting = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export const DURABLE_SCENARIOS: Scenario[] = [
  reused('broker-kill'),
  reused('broker-pause'),
  {
    id: 'instance-cut',
    title: `one instance's connections cut for ${CUT_MS / 1000} s while the others publish`,
    needsBroker: true,
    async inject(context) {
      const { gate } = context
      if (!gate) throw new Error('the durable suite runs its last instance through a gate')
      const victim = gated(context)
      const from = Date.now()
      gate.block()
      gate.cut()
      await noticed(victim)
      await lasting(Math.max(0, from + CUT_MS - Date.now()))
      gate.open()
      return { windows: [], endedAt: Date.now() }
    }
  },
  {
    id: 'instance-restart',
    title: 'one instance killed with SIGKILL and restarted under its consumer name',
    needsBroker: false,
    async inject(context) {
      const victim = gated(context)
      const { next } = await victim.run<{ next: number }>({ cmd: 'probe' })
      await victim.kill()
      const killedAt = Date.now()
      const successor = await context.replace(victim)
      // Reachable again: the restarted instance's durable subscription is open.
      return {
        windows: [],
        endedAt: Date.now(),
        killed: { index: victim.index, knownEnd: next },
        restarted: { index: victim.index, successor: successor.index, killedAt }
      }
    }
  }
]
