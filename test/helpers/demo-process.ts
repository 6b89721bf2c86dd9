/**
 * Runs `demo/index.ts` (the same thing as `npm run demo`) as a separate process tree for the
 * end-to-end and browser tests: a primary plus one `cluster` worker per instance, on free ports.
 */
import { spawn } from 'node:child_process'
import { isAlive, processTree } from '../brokers'
import { waitFor } from './apps'
import { ROOT, TSX_IMPORT } from './cluster-harness'

export interface DemoProcess {
  /** `http://127.0.0.1:<port>` of each instance, in order. */
  readonly urls: string[]
  /** The dashboard's URL, served by the demo's primary. */
  readonly dashboard: string
  readonly output: string[]
  /** Stops the whole tree: SIGTERM to the group, SIGKILL to whatever is left after a bound. */
  stop(): Promise<void>
}

export interface StartDemoOptions {
  instances?: number
  /** Passed as `--uri`; the demo's default is `cluster://`. */
  uri?: string
  /** Passes `--recovery` (durable delivery, client recovery, the client page). */
  recovery?: boolean
  readyTimeoutMs?: number
}

const STOP_TIMEOUT_MS = 8_000

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch {
    // Already gone.
  }
}

export async function startDemo(options: StartDemoOptions = {}): Promise<DemoProcess> {
  const args = [
    'demo/index.ts',
    '--port',
    '0',
    '--events',
    '0',
    '--instances',
    String(options.instances ?? 3)
  ]
  if (options.uri) args.push('--uri', options.uri)
  if (options.recovery) args.push('--recovery')
  // detached: its own process group, so stop() reaches the primary and every instance at once.
  const child = spawn(process.execPath, [...TSX_IMPORT, ...args], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const pid = child.pid as number
  const output: string[] = []
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let done = false
  child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  child.once('exit', () => (done = true))

  const stop = async (): Promise<void> => {
    const tree = [...processTree(pid).keys()]
    if (!done) signal(-pid, 'SIGTERM')
    const timer = setTimeout(() => {
      for (const p of [...tree, ...processTree(pid).keys()]) signal(p, 'SIGKILL')
    }, STOP_TIMEOUT_MS)
    await exited
    await waitFor('every demo process to exit', () => !tree.some(isAlive), STOP_TIMEOUT_MS + 2_000)
    clearTimeout(timer)
  }

  try {
    const text = () => output.join('')
    await waitFor(
      'the demo to be ready',
      () => done || /^Ready: /m.test(text()),
      options.readyTimeoutMs ?? 40_000
    )
    if (!/^Ready: /m.test(text())) throw new Error(`The demo exited before it was ready:\n${text()}`)
    const urls = [...text().matchAll(/^Instance \d+: (http:\/\/\S+)$/gm)].map((match) => match[1])
    const dashboard = /^Dashboard: (http:\/\/\S+)$/m.exec(text())?.[1] ?? ''
    return { urls, dashboard, output, stop }
  } catch (error) {
    await stop()
    throw new Error(`${(error as Error).message}\n--- demo output ---\n${output.join('')}`)
  }
}
