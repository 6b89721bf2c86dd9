/**
 * The README's quick start, run as pasted: its code (taken from README.md between the quick-start
 * markers, and equal to examples/quick-start/server.mjs) runs as two processes against a real Redis;
 * a call on one shows up as an event on the other. With no broker it keeps running and says so.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from './brokers'
import { uniqueKey, waitFor } from './helpers/apps'

const root = join(__dirname, '..')
const example = join(root, 'examples/quick-start/server.mjs')
const STOP_TIMEOUT_MS = 5_000

/** The code block between `<!-- quick-start:server.mjs -->` and its closing marker in README.md. */
function readmeCode(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const match =
    /<!-- quick-start:server\.mjs -->\n```js\n([^]*?)```\n<!-- \/quick-start:server\.mjs -->/.exec(readme)
  if (!match) throw new Error('README.md has no quick-start:server.mjs block between markers')
  return match[1]
}

const newestMtime = (dir: string): number =>
  Math.max(
    ...readdirSync(dir, { withFileTypes: true }).map((entry) => {
      const path = join(dir, entry.name)
      return entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs
    })
  )

interface Instance {
  child: ChildProcess
  output: string[]
  text(): string
}

function start(port: number, uri: string): Instance {
  // The README's command line, with the broker passed as its second argument.
  const child = spawn(process.execPath, [example, String(port), uri], {
    cwd: join(root, 'examples/quick-start'),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const output: string[] = []
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  return { child, output, text: () => output.join('') }
}

async function stop(instance: Instance): Promise<void> {
  const { child } = instance
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
  await exited
  clearTimeout(timer)
}

const instances: Instance[] = []

beforeAll(() => {
  // The example imports the package by name, which resolves to the build: make sure it is current.
  const built = join(root, 'dist/src/cjs.js')
  const stale =
    !existsSync(built) ||
    statSync(built).mtimeMs < Math.max(newestMtime(join(root, 'src')), newestMtime(join(root, 'adapters')))
  if (stale) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' })
}, 120_000)

afterEach(async () => {
  await Promise.all(instances.splice(0).map(stop))
})

describe('the README quick start', () => {
  it('is the code of examples/quick-start/server.mjs, character for character', () => {
    expect(readmeCode()).toBe(readFileSync(example, 'utf8'))
  })

  it('runs as two processes on a real Redis: a call on one is an event on the other', async () => {
    const redis = process.env.FANOUT_REDIS_URL
    if (!redis) throw new Error('FANOUT_REDIS_URL is not set: run with FANOUT_BROKERS including redis')
    const ports = [await freePort(), await freePort()]
    instances.push(...ports.map((port) => start(port, redis)))
    const [first, second] = instances
    const describe = () =>
      instances.map((i, n) => `--- instance ${n + 1} (exit ${i.child.exitCode}):\n${i.text()}`).join('\n')
    for (const [n, instance] of instances.entries()) {
      await waitFor(
        `instance ${n + 1} to listen and sync`,
        () =>
          instance.text().includes(`[${ports[n]}] listening`) &&
          instance.text().includes('synced through redis'),
        20_000
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${describe()}`)
      })
    }
    const text = uniqueKey('hello')
    const response = await fetch(`http://127.0.0.1:${ports[0]}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text })
    })
    expect(response.status).toBe(201)
    const line = `[${ports[1]}] created ${JSON.stringify({ text, id: 0 })}`
    await waitFor('the event on the second instance', () => second.text().includes(line)).catch(
      (error: Error) => {
        throw new Error(`${error.message}\n${describe()}`)
      }
    )
    expect(first.text()).toContain(`[${ports[0]}] created ${JSON.stringify({ text, id: 0 })}`)
  }, 60_000)

  it('keeps running when the broker is down, saying it is not synced yet, without an unhandled rejection', async () => {
    const port = await freePort()
    // Nothing listens on this port.
    const nowhere = `redis://127.0.0.1:${await freePort()}`
    const instance = start(port, nowhere)
    instances.push(instance)
    await waitFor(
      'the not-synced line',
      () => instance.text().includes(`[${port}] not synced yet`),
      25_000
    ).catch((error: Error) => {
      throw new Error(`${error.message}; exit ${instance.child.exitCode}; output:\n${instance.text()}`)
    })
    expect(instance.child.exitCode).toBeNull()
    expect(instance.text()).not.toMatch(/unhandled/i)
    // Still serving calls while the broker is away.
    const response = await fetch(`http://127.0.0.1:${port}/messages`)
    expect(response.status).toBe(200)
  }, 40_000)
})
