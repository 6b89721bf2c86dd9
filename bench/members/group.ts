/**
 * A consumer group member of the group benchmark, in its own process: a Feathers app in durable mode
 * with one group handler on `todos created` that only counts. Reports `ready` once joined and its count
 * every 50 ms.
 */
import { feathers } from '@feathersjs/feathers'
import { MemoryService } from '@feathersjs/memory'
import { sync } from '../../src/index'

const { uri, key } = JSON.parse(process.env.FANOUT_BENCH_GROUP ?? '{}') as { uri: string; key: string }
const app = feathers()
app.configure(sync({ uri, key, durable: true }))
app.use('todos', new MemoryService())
let handled = 0
app.sync.consume(
  'bench',
  'todos',
  'created',
  () => {
    handled++
  },
  { prefetch: 50 }
)
setInterval(() => process.send?.({ handled }), 50)

void (async () => {
  await app.sync.ready
  // Bounded: the parent gives up on `ready` after a minute.
  for (let i = 0; i < 6_000; i++) {
    const [stats] = await app.sync.groupStats()
    if (stats?.joined) break
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  process.send?.({ ready: true })
})()
