/**
 * The scripted part of the demo: one websocket client per instance, events created through REST on
 * the first instance, and a table of what each instance's client received and how long it took.
 */
import { performance } from 'node:perf_hooks'
import { feathers } from '@feathersjs/feathers'
import socketioClient from '@feathersjs/socketio-client'
import { io, type Socket } from 'socket.io-client'
import type { Message } from './app'

export interface DriveOptions {
  events: number
  intervalMs: number
  /** How long to wait for late deliveries after the last event. */
  settleMs?: number
}

export interface DriveRow {
  url: string
  received: number
  missing: number
  duplicates: number
  /** Milliseconds from the REST call to the websocket event: median, 95th percentile, max. */
  p50: number
  p95: number
  max: number
}

export interface DriveResult {
  events: number
  rows: DriveRow[]
  /** Every client received every event exactly once. */
  ok: boolean
}

const CONNECT_TIMEOUT_MS = 5_000

function connect(url: string): Promise<Socket> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, timeout: CONNECT_TIMEOUT_MS })
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket))
    socket.once('connect_error', (error) => {
      socket.close()
      reject(new Error(`Could not open a websocket to ${url}: ${error.message}`))
    })
  })
}

const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Runs the scripted clients against `urls`; events are created through REST on `urls[0]`. */
export async function drive(urls: string[], options: DriveOptions): Promise<DriveResult> {
  const run = Math.random().toString(36).slice(2, 8)
  const sentAt = new Map<number, number>()
  const arrivals = urls.map(() => new Map<number, number[]>())
  const sockets = await Promise.all(urls.map(connect))
  try {
    sockets.forEach((socket, index) => {
      const client = feathers().configure(socketioClient(socket))
      client.service('messages').on('created', (message: Message) => {
        const match = new RegExp(`^drive ${run} #(\\d+)$`).exec(message.text)
        if (!match) return
        const seq = Number(match[1])
        const times = arrivals[index].get(seq) ?? []
        times.push(performance.now())
        arrivals[index].set(seq, times)
      })
    })
    for (let seq = 0; seq < options.events; seq++) {
      sentAt.set(seq, performance.now())
      const response = await fetch(`${urls[0]}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: `drive ${run} #${seq}` })
      })
      if (!response.ok)
        throw new Error(`POST ${urls[0]}/messages answered ${response.status}: ${await response.text()}`)
      await sleep(options.intervalMs)
    }
    // Wait (bounded) for the last deliveries, then a little longer so duplicates would show.
    const deadline = Date.now() + (options.settleMs ?? 5_000)
    while (Date.now() < deadline && arrivals.some((got) => got.size < options.events)) await sleep(10)
    await sleep(200)
  } finally {
    for (const socket of sockets) socket.close()
  }

  const rows = urls.map((url, index): DriveRow => {
    const got = arrivals[index]
    const latencies = [...got]
      .map(([seq, times]) => times[0] - (sentAt.get(seq) ?? times[0]))
      .sort((a, b) => a - b)
    return {
      url,
      received: got.size,
      missing: options.events - got.size,
      duplicates: [...got.values()].reduce((total, times) => total + times.length - 1, 0),
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      max: latencies.at(-1) ?? NaN
    }
  })
  return { events: options.events, rows, ok: rows.every((row) => row.missing === 0 && row.duplicates === 0) }
}

const ms = (value: number): string => (Number.isNaN(value) ? '-' : `${value.toFixed(1)} ms`)

/** The result as a text table, one row per instance. */
export function formatTable(result: DriveResult): string {
  const header = ['Instance', 'URL', 'Received', 'Missing', 'Duplicates', 'Median', 'p95', 'Max']
  const body = result.rows.map((row, index) => [
    `${index + 1}${index === 0 ? ' (REST)' : ''}`,
    row.url,
    `${row.received}/${result.events}`,
    String(row.missing),
    String(row.duplicates),
    ms(row.p50),
    ms(row.p95),
    ms(row.max)
  ])
  const widths = header.map((title, column) =>
    Math.max(title.length, ...body.map((cells) => cells[column].length))
  )
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]))
      .join('  ')
      .trimEnd()
  const rule = widths.map((width) => '-'.repeat(width)).join('  ')
  return [line(header), rule, ...body.map(line)].join('\n')
}
