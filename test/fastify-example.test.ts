/**
 * The Fastify example (examples/fastify, `npm run example:fastify`) run as it is: three instance
 * processes on the test run's Redis, then on its NATS. A state change posted to one instance reaches the
 * server-sent event clients of every instance once, and the history consumer group writes it once for
 * the fleet, so every instance answers with the same full history.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { isAlive, processTree } from './brokers'
import { uniqueKey, waitFor } from './helpers/apps'
import { ROOT, TSX_IMPORT } from './helpers/cluster-harness'

const BROKERS = [
  { name: 'redis', url: process.env.FANOUT_REDIS_URL ?? '' },
  { name: 'nats', url: process.env.FANOUT_NATS_URL ?? '' }
]
const STOP_TIMEOUT_MS = 8_000

interface SseClient {
  events: { event: string; id: string; data: { id: string; state: string } }[]
  connected: boolean
  close(): void
}

/** Opens `GET /live` and parses the event stream as it comes. */
function openSse(url: string): SseClient {
  const client: SseClient = { events: [], connected: false, close: () => request.destroy() }
  let buffer = ''
  const request = http.get(`${url}/live`, { headers: { accept: 'text/event-stream' } }, (response) => {
    response.setEncoding('utf8')
    response.on('data', (chunk: string) => {
      buffer += chunk
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        if (frame.startsWith(': connected')) client.connected = true
        const fields = Object.fromEntries(
          frame
            .split('\n')
            .filter((line) => !line.startsWith(':'))
            .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)])
        )
        if (fields.event)
          client.events.push({ event: fields.event, id: fields.id, data: JSON.parse(fields.data) })
      }
    })
  })
  request.on('error', () => undefined)
  return client
}

async function post(url: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body)
  })
  return { status: response.status, body: await response.json() }
}

/** The lines of the shared history file (none before the first write). */
function historyLines(file: string): { id: string; state: string; key: string; by: string }[] {
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return []
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line))
}

for (const broker of BROKERS) {
  const describeBroker = broker.url ? describe : describe.skip

  describeBroker(`the Fastify example on ${broker.name}`, () => {
    let child: ChildProcess | undefined
    const output: string[] = []
    const clients: SseClient[] = []
    const dir = mkdtempSync(path.join(tmpdir(), 'fanout-example-'))
    const historyFile = path.join(dir, 'history.jsonl')

    afterAll(async () => {
      for (const client of clients) client.close()
      rmSync(dir, { recursive: true, force: true })
      if (!child?.pid) return
      const pid = child.pid
      const tree = [...processTree(pid).keys()]
      const exited = new Promise((resolve) => child?.once('exit', resolve))
      if (child.exitCode === null) process.kill(-pid, 'SIGTERM')
      const timer = setTimeout(
        () => tree.forEach((p) => isAlive(p) && process.kill(p, 'SIGKILL')),
        STOP_TIMEOUT_MS
      )
      await exited
      await waitFor('every example process to exit', () => !tree.some(isAlive), STOP_TIMEOUT_MS + 2_000)
      clearTimeout(timer)
    }, 20_000)

    it('pushes a state change to the live clients of every instance once, and writes its history once for the fleet', async () => {
      // The command of `npm run example:fastify`, on free ports, a channel and a history file of its own.
      const args = [
        'examples/fastify/index.ts',
        '--uri',
        broker.url,
        '--port',
        '0',
        '--key',
        uniqueKey('example'),
        '--history',
        historyFile
      ]
      child = spawn(process.execPath, [...TSX_IMPORT, ...args], {
        cwd: ROOT,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe']
      })
      child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
      child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
      const text = () => output.join('')
      await waitFor(
        'the example to be ready',
        () => /^Ready: /m.test(text()) || child?.exitCode !== null,
        40_000
      )
      expect(text()).toMatch(/^Ready: 3 instances/m)
      const urls = [...text().matchAll(/^Instance \d+: (http:\/\/\S+)$/gm)].map((match) => match[1])
      expect(urls).toHaveLength(3)

      clients.push(...urls.map(openSse))
      await waitFor('every live client to be connected', () => clients.every((client) => client.connected))

      expect(await post(`${urls[0]}/users/42/state`, { state: 'away' })).toEqual({
        status: 202,
        body: { published: true }
      })
      expect((await post(`${urls[1]}/users/42/state`, { state: 'active' })).status).toBe(202)
      expect((await post(`${urls[1]}/users/42/state`, {})).status).toBe(400)
      // A last change from each publisher: the broker keeps one publisher's order, so once both are everywhere
      // nothing earlier is still coming, and a second copy would be counted.
      await post(`${urls[0]}/users/42/state`, { state: 'done' })
      await post(`${urls[1]}/users/42/state`, { state: 'back' })
      await waitFor(
        'four changes at every live client',
        () =>
          clients.every(
            (client) => client.events.filter((e) => ['done', 'back'].includes(e.data.state)).length === 2
          ),
        20_000
      ).catch((error: Error) => {
        throw new Error(
          `${error.message}: ${clients.map((c) => JSON.stringify(c.events)).join('\n')}\n${text()}`
        )
      })

      for (const client of clients) {
        expect(client.events.map((event) => event.data.state).sort()).toEqual([
          'active',
          'away',
          'back',
          'done'
        ])
        expect(client.events.every((event) => event.event === 'user.state' && event.data.id === '42')).toBe(
          true
        )
        // The same message has the same id at every instance.
        expect(client.events.map((event) => event.id).sort()).toEqual(
          clients[0].events.map((e) => e.id).sort()
        )
      }
      await waitFor('four history lines', () => historyLines(historyFile).length >= 4, 20_000).catch(
        (error: Error) => {
          throw new Error(`${error.message}: ${JSON.stringify(historyLines(historyFile))}\n${text()}`)
        }
      )
      // Written once per change for the whole fleet: one line per message key, each by one instance.
      const lines = historyLines(historyFile)
      expect(lines.map((line) => line.state).sort()).toEqual(['active', 'away', 'back', 'done'])
      expect(new Set(lines.map((line) => line.key)).size).toBe(4)
      expect(lines.map((line) => line.key).sort()).toEqual(clients[0].events.map((e) => e.id).sort())
      for (const url of urls) {
        const { history } = (await (await fetch(`${url}/users/42/history`)).json()) as {
          history: { state: string }[]
        }
        expect(history.map((entry) => entry.state).sort()).toEqual(['active', 'away', 'back', 'done'])
      }
    }, 90_000)
  })
}
