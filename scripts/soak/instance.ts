/**
 * One app instance of the soak run (scripts/soak/index.ts), in its own process started with
 * --expose-gc. It creates events as fast as the parent's credit allows, checks what it receives from
 * each sender (in order, no gaps, no duplicates), and measures its memory after a full GC on request.
 */
import { feathers } from '@feathersjs/feathers'
import { sync, type SyncStatusEvent } from '../../src/index'
import { CONFIG_ENV, type SoakCommand, type SoakConfig, type SoakProgress } from './protocol'

const BATCH = 200

const config = JSON.parse(process.env[CONFIG_ENV] ?? '{}') as SoakConfig
const app = feathers()
app.use('feed', { create: async (data: { f: number; n: number }) => data })
app.configure(sync(config.sync))
let statusChanges = 0
app.on('sync-status', (_event: SyncStatusEvent) => statusChanges++)

const received = new Map<number, { count: number; gaps: number; duplicates: number; last: number }>()
app.service('feed').on('created', (data: { f: number; n: number }, context: { remote?: unknown }) => {
  if (!context.remote) return
  let from = received.get(data.f)
  if (!from) received.set(data.f, (from = { count: 0, gaps: 0, duplicates: 0, last: -1 }))
  if (data.n <= from.last) {
    from.duplicates++
    return
  }
  from.gaps += data.n - from.last - 1
  from.count++
  from.last = data.n
})

let sent = 0
let allowed = 0
let pumping = false
async function pump(): Promise<void> {
  if (pumping) return
  pumping = true
  try {
    for (let limit = Math.min(allowed, config.share); sent < limit; limit = Math.min(allowed, config.share)) {
      const jobs: Promise<unknown>[] = []
      for (let i = 0; i < BATCH && sent < limit; i++)
        jobs.push(app.service('feed').create({ f: config.index, n: sent++ }))
      await Promise.all(jobs)
    }
  } finally {
    pumping = false
  }
}

function progress(): SoakProgress {
  const stats = app.sync.stats()
  const out: SoakProgress['received'] = {}
  for (const [sender, { count, gaps, duplicates }] of received) out[sender] = { count, gaps, duplicates }
  return {
    sent,
    received: out,
    statusChanges,
    syncGaps: stats.gaps.reported,
    droppedBy: Object.fromEntries(
      Object.entries(stats.dropped).filter(([reason, n]) => n > 0 && reason !== 'ownEcho')
    ),
    dropped: Object.values(stats.dropped).reduce((sum, n) => sum + n, 0) - stats.dropped.ownEcho,
    publishErrors: stats.publishErrors
  }
}

const gc = (globalThis as { gc?: () => void }).gc

process.on('message', async (message: SoakCommand) => {
  let value: unknown
  if (message.cmd === 'allow') {
    allowed = message.upTo
    void pump()
    value = progress()
  } else if (message.cmd === 'memory') {
    // Twice: the first full collection can leave work (finalizers, weak references) to the second.
    gc?.()
    gc?.()
    value = { ...process.memoryUsage(), gc: gc !== undefined }
  } else {
    await app.teardown()
    value = null
  }
  process.send?.({ id: message.id, value })
})

app.sync.ready.then(
  () => process.send?.({ id: 0, value: 'ready' }),
  (error: Error) => process.send?.({ id: 0, value: `failed: ${error.message}` })
)
