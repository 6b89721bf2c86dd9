/**
 * The end-to-end check, for any transport: starts the demo (separate processes, one per instance),
 * connects a real socket.io client to every instance, creates events through REST on each instance
 * in turn, and counts what every client received.
 */
import { feathers } from '@feathersjs/feathers'
import socketioClient from '@feathersjs/socketio-client'
import { io, type Socket } from 'socket.io-client'
import { uniqueKey, waitFor } from './apps'
import { startDemo } from './demo-process'

export interface E2EResult {
  urls: string[]
  /** What each URL says it is: instance number and process id. */
  instances: { instance: number; pid: number }[]
  /** The text of each message created, one per instance (instance i created markers[i]). */
  markers: string[]
  /** counts[client][marker]: how often the client connected to instance `client` got `markers[marker]`. */
  counts: number[][]
}

function connect(url: string): Promise<Socket> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, timeout: 5_000 })
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket))
    socket.once('connect_error', (error) => reject(new Error(`socket.io to ${url}: ${error.message}`)))
  })
}

async function post(url: string, text: string): Promise<void> {
  const response = await fetch(`${url}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text })
  })
  if (!response.ok) throw new Error(`POST ${url}/messages: ${response.status} ${await response.text()}`)
}

/**
 * Runs the demo synced through `uri` (default `cluster://`) and reports what each websocket client
 * received. Every message from one instance travels in order, so once a client has the barrier
 * message that follows them, a duplicate would already have shown.
 */
export async function runE2E(uri?: string, instances = 3): Promise<E2EResult> {
  const demo = await startDemo({ instances, uri })
  const sockets: Socket[] = []
  try {
    const instances = await Promise.all(
      demo.urls.map(async (url) => {
        const { instance, pid } = (await (await fetch(`${url}/instance`)).json()) as {
          instance: number
          pid: number
        }
        return { instance, pid }
      })
    )
    sockets.push(...(await Promise.all(demo.urls.map(connect))))
    const texts = sockets.map(() => [] as string[])
    sockets.forEach((socket, index) => {
      feathers()
        .configure(socketioClient(socket))
        .service('messages')
        .on('created', (message: { text: string }) => texts[index].push(message.text))
    })
    const markers = demo.urls.map((_url, index) => uniqueKey(`e2e-from-${index + 1}`))
    for (const [index, url] of demo.urls.entries()) await post(url, markers[index])
    const barriers = demo.urls.map((_url, index) => uniqueKey(`e2e-barrier-${index + 1}`))
    for (const [index, url] of demo.urls.entries()) await post(url, barriers[index])
    await waitFor('every client to receive every barrier', () =>
      texts.every((got) => barriers.every((barrier) => got.includes(barrier)))
    )
    const counts = texts.map((got) => markers.map((marker) => got.filter((text) => text === marker).length))
    return { urls: demo.urls, instances, markers, counts }
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- demo output ---\n${demo.output.join('')}`)
  } finally {
    for (const socket of sockets) socket.close()
    await demo.stop()
  }
}

/** The shared test brokers of this Jest run (see test/global-setup.ts) whose adapter is available. */
export function availableBrokers(): { name: string; uri: string }[] {
  const candidates = [
    { name: 'redis', uri: process.env.FANOUT_REDIS_URL },
    { name: 'nats', uri: process.env.FANOUT_NATS_URL },
    { name: 'amqp', uri: process.env.FANOUT_AMQP_URL }
  ]
  return candidates.flatMap(({ name, uri }) => (uri ? [{ name, uri }] : []))
}
