/**
 * The demo's primary process: forks one `cluster` worker per instance, relays their sync messages
 * (setupPrimary()), runs the scripted clients and prints the table, then serves until Ctrl-C.
 */
import cluster, { type Worker } from 'node:cluster'
import { setupPrimary } from '../src/index'
import { drive, formatTable } from './drive'
import type { InstanceReport } from './instance'
import { redact, type DemoOptions } from './options'

const READY_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 5_000
const MAX_RESTARTS = 5

const print = (text: string): void => {
  process.stdout.write(`${text}\n`)
}

/** Runs the demo; resolves with the process exit code. */
export async function runPrimary(options: DemoOptions): Promise<number> {
  const transport = redact(options.uri)
  // Needed for cluster:// (the default); harmless when a broker carries the messages.
  const relay = setupPrimary({ onError: (error) => print(`relay: ${error.message}`) })
  const workers = new Map<number, Worker>()
  const restarts = new Map<number, number>()
  let stopping = false

  const fork = (instance: number): Worker => {
    const port = options.port === 0 ? 0 : options.port + instance - 1
    const worker = cluster.fork({
      DEMO_INSTANCE: String(instance),
      DEMO_INSTANCES: String(options.instances),
      DEMO_PORT: String(port),
      DEMO_BASE_PORT: String(options.port),
      DEMO_HOST: options.host,
      DEMO_URI: options.uri,
      DEMO_TRANSPORT: transport
    })
    workers.set(instance, worker)
    worker.on('exit', (code, signal) => {
      if (workers.get(instance) === worker) workers.delete(instance)
      if (stopping) return
      // Like any cluster app: a crashed instance is replaced, and the new one rejoins the sync.
      const count = (restarts.get(instance) ?? 0) + 1
      restarts.set(instance, count)
      if (count > MAX_RESTARTS)
        return print(`Instance ${instance} exited (${code ?? signal}) too often; not restarting it`)
      print(`Instance ${instance} exited (${code ?? signal}); starting a replacement`)
      fork(instance)
    })
    return worker
  }

  const stop = async (): Promise<void> => {
    stopping = true
    const exits = [...workers.values()].map(
      (worker) => new Promise((resolve) => worker.once('exit', resolve))
    )
    for (const worker of workers.values()) worker.process.kill('SIGTERM')
    const timer = setTimeout(() => {
      for (const worker of workers.values()) worker.process.kill('SIGKILL')
    }, STOP_TIMEOUT_MS)
    await Promise.all(exits)
    clearTimeout(timer)
    relay.close()
  }

  print(`Starting ${options.instances} instances synced through ${transport} …`)
  const urls = new Array<string>(options.instances)
  const started = new Promise<void>((resolve, reject) => {
    let ready = 0
    const timer = setTimeout(
      () => reject(new Error(`Instances not ready within ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS
    )
    cluster.on('message', (_worker, message: InstanceReport) => {
      if (message?.demo === 'failed') {
        clearTimeout(timer)
        reject(new Error(`Instance ${message.instance} could not start: ${message.message}`))
      } else if (message?.demo === 'ready') {
        if (urls[message.instance - 1] === undefined) ready++
        else print(`Instance ${message.instance} is back: ${message.url}`)
        urls[message.instance - 1] = message.url
        if (ready === options.instances) {
          clearTimeout(timer)
          resolve()
        }
      }
    })
  })
  for (let instance = 1; instance <= options.instances; instance++) fork(instance)

  try {
    await started
  } catch (error) {
    print((error as Error).message)
    await stop()
    return 1
  }
  urls.forEach((url, index) => print(`Instance ${index + 1}: ${url}`))
  print(`Ready: ${options.instances} instances synced through ${transport}`)

  let code = 0
  if (options.events > 0) {
    print(
      `\nCreating ${options.events} messages through REST on ${urls[0]}, one websocket client per instance …\n`
    )
    try {
      const result = await drive(urls, { events: options.events, intervalMs: options.intervalMs })
      print(formatTable(result))
      print(
        result.ok
          ? '\nEvery instance received every message exactly once.'
          : '\nSome messages were lost or duplicated!'
      )
      code = result.ok ? 0 : 1
    } catch (error) {
      print(`The scripted run failed: ${(error as Error).message}`)
      code = 1
    }
  }
  if (options.once) {
    await stop()
    return code
  }

  print(
    `\nOpen ${urls.join(' , ')} in a browser: a message posted on one page appears on all. Ctrl-C to stop.`
  )
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve())
  })
  print('\nStopping …')
  await stop()
  return 0
}
