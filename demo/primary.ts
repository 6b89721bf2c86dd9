/**
 * The demo's primary process: starts the broker when it may (broker.ts), the dashboard server, and
 * one `cluster` worker per instance (fleet.ts), relays their sync messages (setupPrimary()), runs the
 * scripted clients and prints the table, then serves until it is told to stop (lifetime.ts).
 */
import type { Server } from 'node:http'
import { setupPrimary } from '../src/index'
import { startOwnedBroker, type OwnedRedis } from './broker'
import { createDashboard, type Dashboard } from './dashboard'
import { drive, formatTable } from './drive'
import { Fleet } from './fleet'
import { whenToStop } from './lifetime'
import { redact, type DemoOptions } from './options'

const READY_TIMEOUT_MS = 30_000

const print = (text: string): void => {
  process.stdout.write(`${text}\n`)
}

function listenOn(server: Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new Error(`The dashboard cannot listen on ${host}:${port}: ${error.code ?? error.message}`))
    )
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address()
      resolve(`http://${host}:${typeof address === 'object' && address ? address.port : port}/`)
    })
  })
}

/** Resolves once every instance reported ready; rejects with the first that could not start. */
function allReady(fleet: Fleet, instances: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ready = new Set<number>()
    const timer = setTimeout(
      () => reject(new Error(`Instances not ready within ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS
    )
    fleet.on('report', (report) => {
      if (report.demo === 'failed') {
        clearTimeout(timer)
        reject(new Error(`Instance ${report.instance} could not start: ${report.message}`))
      } else if (ready.has(report.instance)) {
        print(`Instance ${report.instance} is back: ${report.url}`)
      } else if (ready.add(report.instance).size === instances) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
}

/** Runs the demo; resolves with the process exit code. */
export async function runPrimary(options: DemoOptions): Promise<number> {
  const transport = redact(options.uri)
  let stopReason: (reason: string) => void = () => undefined
  const stopRequested = new Promise<string>((resolve) => (stopReason = resolve))
  const dispose = whenToStop((reason) => stopReason(reason))
  // Needed for cluster:// (the default); harmless when a broker carries the messages.
  const relay = setupPrimary({ onError: (error) => print(`relay: ${error.message}`) })
  let broker: OwnedRedis | undefined
  let dashboard: Dashboard | undefined
  let dashboardUrl = ''
  const fleet = new Fleet({
    instances: options.instances,
    print,
    env: (instance) => ({
      DEMO_INSTANCE: String(instance),
      DEMO_INSTANCES: String(options.instances),
      DEMO_PORT: String(options.port === 0 ? 0 : options.port + instance),
      DEMO_BASE_PORT: String(options.port === 0 ? 0 : options.port + 1),
      DEMO_HOST: options.host,
      DEMO_URI: options.uri,
      DEMO_TRANSPORT: transport,
      DEMO_DASHBOARD: dashboardUrl,
      DEMO_RECOVERY: options.recovery ? '1' : ''
    })
  })
  const stop = async (): Promise<void> => {
    dispose()
    await fleet.stop()
    await dashboard?.close()
    await broker?.close()
    relay.close()
  }
  // Stops everything when told to while starting, instead of starting the rest first.
  const unlessStopped = <T>(work: Promise<T>): Promise<T> =>
    Promise.race([work, stopRequested.then((reason) => Promise.reject(new Error(`Stopped (${reason})`)))])

  try {
    broker = await unlessStopped(startOwnedBroker(options.uri))
    if (broker)
      print(`Started redis-server (pid ${broker.pid}) on 127.0.0.1:${broker.port}; it stops with the demo`)
    if (!options.once) {
      dashboard = createDashboard({ fleet, transport, broker, recovery: options.recovery })
      dashboardUrl = await listenOn(dashboard.server, options.port, options.host)
    }
    print(`Starting ${options.instances} instances synced through ${transport} …`)
    const ready = allReady(fleet, options.instances)
    fleet.start()
    await unlessStopped(ready)
  } catch (error) {
    print((error as Error).message)
    await stop()
    return 1
  }
  fleet.list().forEach(({ instance, url }) => print(`Instance ${instance}: ${url}`))
  if (dashboardUrl) print(`Dashboard: ${dashboardUrl}`)
  print(`Ready: ${options.instances} instances synced through ${transport}`)

  let code = 0
  if (options.events > 0) {
    const urls = fleet.list().map(({ url }) => url as string)
    print(
      `\nCreating ${options.events} messages through REST on ${urls[0]}, one websocket client per instance …\n`
    )
    try {
      const result = await unlessStopped(
        drive(urls, { events: options.events, intervalMs: options.intervalMs })
      )
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
  if (!options.once) {
    print(
      `\nOpen the dashboard, ${dashboardUrl} , to watch the instances sync, break them and watch them recover.`
    )
    print(`Ctrl-C (or kill ${process.pid}) to stop.`)
    print(`\nStopping (${await stopRequested}) …`)
  }
  await stop()
  return code
}
