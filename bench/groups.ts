/**
 * Consumer group throughput: 3 members in separate processes, one group, a publisher in this process;
 * handled events per second from the first publish until every event was handled once.
 */
import { fork, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { feathers } from '@feathersjs/feathers'
import { MemoryService } from '@feathersjs/memory'
import { sync } from '../src/index'
import { parseOptions, schemeOf } from '../src/engine/options'
import { factoryFor } from '../src/registry'
import { TSX_IMPORT } from '../test/helpers/cluster-harness'

const SCRIPT = path.join(__dirname, 'members', 'group.ts')
const TIMEOUT_MS = 180_000

export interface GroupBench {
  transport: string
  members: number
  events: number
  seconds: number
  eventsPerSecond: number
  /** Events handled more than once (should be 0 with nothing failing). */
  repeats: number
}

/** Whether the adapter for `url` has the group capability in durable mode. */
export function supportsGroups(url: string): boolean {
  const options = parseOptions({ uri: url, durable: true })
  return factoryFor(schemeOf(url))(options).capabilities?.group === true
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`group bench: timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

export async function benchGroup(
  transport: string,
  url: string,
  events: number,
  members = 3
): Promise<GroupBench> {
  const key = `bench-group-${Date.now().toString(36)}`
  const counts = new Array<number>(members).fill(0)
  const ready = new Array<boolean>(members).fill(false)
  const children: ChildProcess[] = []
  const app = feathers()
  try {
    for (let index = 0; index < members; index++) {
      const child = fork(SCRIPT, [], {
        execArgv: TSX_IMPORT,
        env: { ...process.env, FANOUT_BENCH_GROUP: JSON.stringify({ uri: url, key }) },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc']
      })
      child.on('message', (message: { handled?: number; ready?: boolean }) => {
        if (message.ready) ready[index] = true
        if (message.handled !== undefined) counts[index] = message.handled
      })
      children.push(child)
    }
    await until('the members to join', () => ready.every(Boolean))
    app.configure(sync({ uri: url, key, durable: true }))
    app.use('todos', new MemoryService())
    await app.sync.ready
    const total = () => counts.reduce((a, b) => a + b, 0)
    const started = process.hrtime.bigint()
    for (let n = 0; n < events; n++) await app.service('todos').create({ n })
    await until(`${events} handled`, () => total() >= events)
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    return {
      transport,
      members,
      events,
      seconds,
      eventsPerSecond: events / seconds,
      repeats: total() - events
    }
  } finally {
    await app.teardown().catch(() => undefined)
    for (const child of children) child.kill('SIGKILL')
  }
}
