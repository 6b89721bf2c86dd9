import { fork } from 'node:child_process'
import { join } from 'node:path'

const fixture = join(__dirname, 'fixtures/exit-after-teardown.ts')
const EXIT_WITHIN_MS = 8_000

/** Runs the fixture and resolves with how it ended; kills it (and fails) if it lingers. */
function runUntilExit(
  uri: string,
  mode?: 'group'
): Promise<{ code: number | null; messages: unknown[]; lingered: boolean }> {
  return new Promise((resolve) => {
    const messages: unknown[] = []
    const child = fork(fixture, mode ? [uri, mode] : [uri], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc']
    })
    let lingered = false
    let timer: NodeJS.Timeout | undefined
    child.on('message', (message) => {
      messages.push(message)
      // From teardown on, the process has nothing left to do: it must be gone soon.
      timer = setTimeout(() => {
        lingered = true
        child.kill('SIGKILL')
      }, EXIT_WITHIN_MS)
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, messages, lingered })
    })
  })
}

async function expectCleanExit(uri: string, mode?: 'group'): Promise<void> {
  const result = await runUntilExit(uri, mode)
  expect(result.messages).toEqual([{ tornDown: 'closed' }])
  expect(result.lingered).toBe(false)
  expect(result.code).toBe(0)
}

const targets = [
  ['memory', 'memory://exit'],
  ['redis', process.env.FANOUT_REDIS_URL],
  ['amqp', process.env.FANOUT_AMQP_URL],
  ['nats', process.env.FANOUT_NATS_URL]
].filter((target): target is [string, string] => typeof target[1] === 'string')

describe('after app.teardown()', () => {
  it.each(targets)(
    'a process on %s with nothing else to do exits on its own',
    async (_name, uri) => {
      await expectCleanExit(uri)
    },
    30_000
  )

  const amqp = process.env.FANOUT_AMQP_URL
  const itAmqp = amqp ? it : it.skip
  itAmqp(
    'a process with a consumer group on amqp (a connection of its own) exits on its own',
    async () => {
      await expectCleanExit(amqp as string, 'group')
    },
    30_000
  )
})
