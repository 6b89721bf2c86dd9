/**
 * The demo's client page in headless Chromium, with `--recovery` on Redis (the demo starts it): a
 * Feathers client with the recovery plugin goes offline, messages are created across the instances,
 * it comes back through another instance and shows every missed event once, in order, as recovered;
 * away during more events than a replay gives (500), it shows the gap.
 */
import type { Page } from 'playwright-core'
import { io } from 'socket.io-client'
import { freePort, ensureBinary } from './brokers'
import { uniqueKey, waitFor } from './helpers/apps'
import { launchChromium, type Browser } from './helpers/chromium'
import { startDemo, type DemoProcess } from './helpers/demo-process'

let demo: DemoProcess | undefined
let browser: Browser | undefined
let page: Page
const pageErrors: string[] = []

beforeAll(async () => {
  ensureBinary('redis-server', 'redis-server')
  const uri = `redis://127.0.0.1:${await freePort()}`
  demo = await startDemo({ instances: 3, uri, recovery: true, readyTimeoutMs: 90_000 })
  browser = await launchChromium({ width: 1200, height: 900 })
  page = await browser.context.newPage()
  page.on('pageerror', (error) => pageErrors.push(error.message))
}, 15 * 60_000)

afterAll(async () => {
  await browser?.close()
  await demo?.stop()
})

interface ClientView {
  status: string
  live: number
  recovered: number
  gap: string
  events: { text: string; how: string }[]
}

// No named helpers inside: the function is serialised into the page (see test/helpers/dashboard.ts).
const readPage = (): Promise<ClientView> =>
  page.$eval('body', (body) => ({
    status: body.querySelector('#status')?.textContent ?? '',
    live: Number(body.querySelector('#live')?.textContent),
    recovered: Number(body.querySelector('#recovered')?.textContent),
    gap: body.querySelector('#gap')?.hasAttribute('hidden')
      ? ''
      : (body.querySelector('#gap')?.textContent ?? ''),
    events: [...body.querySelectorAll('#events li')].map((li) => ({
      text: li.getAttribute('data-text') ?? '',
      how: li.className
    }))
  }))

/** Polls the page until `check` holds; otherwise fails with what the page showed. */
async function waitForPage(what: string, check: (view: ClientView) => boolean, timeoutMs = 20_000) {
  let view = await readPage()
  const deadline = Date.now() + timeoutMs
  while (!check(view)) {
    if (Date.now() > deadline) {
      const { events, ...rest } = view
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${what}. The client page shows ${JSON.stringify(rest)}, ` +
          `${events.length} events, the last ${JSON.stringify(events.slice(-3))}; page errors: ` +
          JSON.stringify(pageErrors)
      )
    }
    await page.waitForTimeout(100)
    view = await readPage()
  }
  return view
}

async function create(url: string, text: string): Promise<void> {
  const response = await fetch(`${url}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text })
  })
  if (response.status !== 201) throw new Error(`POST ${url}/messages answered ${response.status}`)
}

it('shows a page that was offline catching up: every missed event once, in log order, through another instance', async () => {
  const { urls, dashboard } = demo as DemoProcess
  await page.goto(new URL('/client.html', dashboard).href)
  await waitForPage('the page to be live on instance 1', (view) => view.status === 'live')
  // A page resumes from the last event it saw (one that saw none starts at the live stream).
  const first = uniqueKey('first')
  await create(urls[0], first)
  await waitForPage('the first live event', (view) => view.events.some((e) => e.text === first))
  await page.click('#offline')
  await waitForPage('the page to be offline', (view) => view.status === 'offline')
  // Created on three instances, they enter the log in the broker's order, which may differ from the
  // order of the calls: a client that stays connected sees that order (every instance emits in it).
  const observer = io(urls[2], { transports: ['websocket'] })
  const observed: string[] = []
  observer.on('messages created', (message: { text: string }) => observed.push(message.text))
  await waitFor('the observer to connect', () => observer.connected)
  const prefix = uniqueKey('missed')
  const missed = Array.from({ length: 30 }, (_, i) => `${prefix} ${i + 1}`)
  for (const [i, text] of missed.entries()) await create(urls[i % urls.length], text)
  await waitFor('the observer to see the 30 events', () => observed.length === 30)
  observer.disconnect()
  expect([...observed].sort()).toEqual([...missed].sort())

  await page.selectOption('#via', '2')
  await page.click('#online')
  const back = await waitForPage(
    'the 30 missed events, recovered',
    (view) => view.status === 'live' && view.events.filter((e) => e.text.startsWith(prefix)).length >= 30
  )
  const mine = back.events.filter((e) => e.text.startsWith(prefix))
  expect(mine).toEqual(observed.map((text) => ({ text, how: 'recovered' })))
  expect(back.recovered).toBe(30)
  expect(back.gap).toBe('')
  await expect(page.locator('#where').textContent()).resolves.toContain(urls[1])

  // And the live stream goes on.
  const after = uniqueKey('live again')
  await create(urls[2], after)
  const live = await waitForPage('the live event', (view) => view.events.some((e) => e.text === after))
  expect(live.events.at(-1)).toEqual({ text: after, how: 'live' })
}, 60_000)

it('shows the gap when the page was away for more events than a replay gives', async () => {
  const { urls } = demo as DemoProcess
  const before = await waitForPage('the page to be live', (view) => view.status === 'live')
  await page.click('#offline')
  await waitForPage('the page to be offline', (view) => view.status === 'offline')
  const socket = io(urls[0], { transports: ['websocket'], reconnection: false })
  try {
    const reply = await socket.timeout(30_000).emitWithAck('demo:burst', 600)
    expect(reply).toEqual({ ok: true, result: expect.objectContaining({ created: 600 }) })
  } finally {
    socket.disconnect()
  }
  await page.selectOption('#via', '3')
  await page.click('#online')
  const back = await waitForPage('the gap notice', (view) => view.status === 'live' && view.gap !== '')
  expect(back.gap).toMatch(/^Gap \(tooMany\): /)
  expect(back.recovered).toBe(before.recovered)
}, 60_000)
