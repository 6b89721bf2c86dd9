/**
 * The event-driven Fastify example: several instances behind one broker. Publishing routes, a history
 * consumer and live updates over server-sent events. See docs/fastify.md.
 *
 *   npm run example:fastify -- --uri redis://127.0.0.1:6379 [--instances 3] [--port 3000] [--history F]
 *   npm run example:fastify -- --uri nats://127.0.0.1:4222     (a nats-server with JetStream: -js)
 *
 * `--port 0` takes free ports; `--history` is the shared history file (default: a new one in the temp
 * directory). Then, for example:
 *   curl -N http://127.0.0.1:3001/live
 *   curl -X POST -H 'content-type: application/json' -d '{"state":"away"}' http://127.0.0.1:3000/users/42/state
 *   curl http://127.0.0.1:3002/users/42/history
 */
import { fork, type ChildProcess } from 'node:child_process'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    uri: { type: 'string', default: 'redis://127.0.0.1:6379' },
    instances: { type: 'string', default: '3' },
    port: { type: 'string', default: '3000' },
    key: { type: 'string', default: '' },
    history: { type: 'string', default: '' }
  }
})
const count = Number(values.instances)
const firstPort = Number(values.port)
if (!Number.isInteger(count) || count < 1 || count > 16) throw new Error('--instances must be 1 to 16')
if (!Number.isInteger(firstPort) || firstPort < 0) throw new Error('--port must be a port number or 0')

const historyFile =
  values.history || path.join(tmpdir(), `fanout-example-history-${process.pid}-${Date.now()}.jsonl`)

const children: ChildProcess[] = []

function start(index: number): Promise<string> {
  // The child runs TypeScript through the loader this process was started with (tsx).
  const child = fork(path.join(__dirname, 'instance.ts'), [], {
    env: {
      ...process.env,
      EXAMPLE_URI: values.uri,
      EXAMPLE_KEY: values.key,
      EXAMPLE_HISTORY: historyFile,
      EXAMPLE_PORT: String(firstPort === 0 ? 0 : firstPort + index)
    }
  })
  children.push(child)
  return new Promise((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve(`http://127.0.0.1:${message.port}`))
    child.once('exit', (code) => reject(new Error(`instance ${index + 1} exited with code ${code}`)))
  })
}

async function stop(code = 0): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          child.once('exit', () => resolve())
          child.kill('SIGTERM')
        })
    )
  )
  process.exit(code)
}

async function main(): Promise<void> {
  process.once('SIGINT', () => void stop())
  process.once('SIGTERM', () => void stop())
  const urls = await Promise.all(Array.from({ length: count }, (_, index) => start(index)))
  urls.forEach((url, index) => console.log(`Instance ${index + 1}: ${url}`))
  console.log(`History: ${historyFile}`)
  console.log(`Ready: ${count} instances on ${values.uri.replace(/\/\/[^@/]*@/, '//***@')}`)
  console.log(`Try: curl -N ${urls[urls.length - 1]}/live`)
  console.log(
    `     curl -X POST -H 'content-type: application/json' -d '{"state":"away"}' ${urls[0]}/users/42/state`
  )
  console.log(`     curl ${urls[urls.length - 1]}/users/42/history`)
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  void stop(1)
})
