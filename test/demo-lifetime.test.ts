/**
 * `npm run demo` stops everything it started, whichever way it is told to: a `kill` of the npm
 * process, of the demo's primary, or a Ctrl-C in the terminal (SIGINT to the whole process group).
 * Afterwards no port of the demo (dashboard, instances, the Redis it started) accepts connections and
 * none of its processes runs.
 */
import { spawn } from 'node:child_process'
import { canConnect, ensureBinary, freePort, isAlive, processTree } from './brokers'
import { waitFor } from './helpers/apps'
import { ROOT } from './helpers/cluster-harness'

const STOP_WITHIN_MS = 10_000

interface RunningDemo {
  npmPid: number
  primaryPid: number
  ports: number[]
  tree: number[]
  output: () => string
}

async function startNpmDemo(extra: string[]): Promise<RunningDemo> {
  const args = ['run', 'demo', '--', '--port', '0', '--events', '0', '--instances', '2', ...extra]
  // detached: npm leads its own process group, as it would in a terminal.
  const child = spawn('npm', args, { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  const chunks: string[] = []
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk.toString()))
  const output = () => chunks.join('')
  await waitFor('the demo to serve', () => /to stop\.$/m.test(output()) || child.exitCode !== null, 60_000)
  const ports = [...output().matchAll(/(?:127\.0\.0\.1):(\d+)/g)].map((match) => Number(match[1]))
  const primaryPid = Number(/kill (\d+)\) to stop/.exec(output())?.[1])
  if (!primaryPid) throw new Error(`The demo did not start:\n${output()}`)
  return {
    npmPid: child.pid as number,
    primaryPid,
    ports: [...new Set(ports)],
    tree: [...processTree(child.pid as number).keys()],
    output
  }
}

async function expectAllStopped(demo: RunningDemo): Promise<void> {
  const open = async () => (await Promise.all(demo.ports.map((port) => canConnect(port, 200)))).some(Boolean)
  const deadline = Date.now() + STOP_WITHIN_MS
  let listening = await open()
  while (listening && Date.now() < deadline) listening = await open()
  const alive = () => demo.tree.filter(isAlive)
  try {
    await waitFor(
      'every demo process to exit',
      () => alive().length === 0,
      Math.max(0, deadline - Date.now()) + 1
    )
  } catch {
    // Reported below with the details.
  }
  const left = alive()
  for (const pid of left) process.kill(pid, 'SIGKILL')
  expect({
    listening,
    processesLeft: left,
    output: listening || left.length > 0 ? demo.output() : ''
  }).toEqual({
    listening: false,
    processesLeft: [],
    output: ''
  })
}

const cases: [string, (demo: RunningDemo) => void][] = [
  ['kill of the npm process', (demo) => process.kill(demo.npmPid, 'SIGTERM')],
  ['kill of the primary', (demo) => process.kill(demo.primaryPid, 'SIGTERM')],
  ['Ctrl-C', (demo) => process.kill(-demo.npmPid, 'SIGINT')]
]

describe('npm run demo', () => {
  it.each(cases)(
    'stops every server it started on a %s (cluster://)',
    async (_name, stop) => {
      const demo = await startNpmDemo([])
      expect(demo.ports.length).toBe(3)
      stop(demo)
      await expectAllStopped(demo)
    },
    90_000
  )

  it('stops the Redis it started too on a kill of the npm process', async () => {
    // The demo starts redis-server from PATH; installed here like the test brokers when missing.
    ensureBinary('redis-server', 'redis-server')
    const port = await freePort()
    const demo = await startNpmDemo(['--uri', `redis://127.0.0.1:${port}`])
    expect(demo.ports).toContain(port)
    expect(demo.output()).toContain(`Started redis-server`)
    process.kill(demo.npmPid, 'SIGTERM')
    await expectAllStopped(demo)
  }, 90_000)
})
