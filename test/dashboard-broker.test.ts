/**
 * The dashboard's broker buttons, in headless Chromium: the demo runs with `--uri redis://…` on a
 * free port, so it starts redis-server itself and may stop and start it. While the broker is stopped
 * every column shows the outage and a message posted meanwhile waits in its instance's outbox; once
 * the broker is back, the outbox drains and the message reaches the other columns.
 */
import type { Page } from 'playwright-core'
import { ensureBinary, freePort, isAlive } from './brokers'
import { uniqueKey } from './helpers/apps'
import { launchChromium, type Browser } from './helpers/chromium'
import { openDashboard, post, waitForColumns, type ColumnView } from './helpers/dashboard'
import { startDemo, type DemoProcess } from './helpers/demo-process'

const INSTANCES = 3
let demo: DemoProcess | undefined
let browser: Browser | undefined
let page: Page
let redisPid = 0

beforeAll(async () => {
  ensureBinary('redis-server', 'redis-server')
  demo = await startDemo({ instances: INSTANCES, uri: `redis://127.0.0.1:${await freePort()}` })
  redisPid = Number(/^Started redis-server \(pid (\d+)\)/m.exec(demo.output.join(''))?.[1])
  browser = await launchChromium({ width: 1400, height: 1000 })
  page = await browser.context.newPage()
}, 15 * 60_000)

afterAll(async () => {
  await browser?.close()
  await demo?.stop()
})

const column = (columns: ColumnView[], instance: number): ColumnView =>
  columns.find((each) => each.instance === instance) as ColumnView

it('stops the broker it started, shows the outage and the outbox, and the catch-up once it is back', async () => {
  expect(redisPid).toBeGreaterThan(0)
  await openDashboard(page, (demo as DemoProcess).dashboard, INSTANCES)
  await expect(page.locator('.column .adapter').first().textContent()).resolves.toBe('redis')
  await expect(page.locator('#broker-state').textContent()).resolves.toMatch(/^redis on port \d+: running$/)

  await page.click('#broker-stop')
  await page.locator('#broker-state[data-state=stopped]').waitFor({ timeout: 15_000 })
  expect(isAlive(redisPid)).toBe(false)
  await waitForColumns(page, 'every column to show the outage', (c) =>
    c.every((each) => each.status === 'reconnecting')
  )

  const text = uniqueKey('while the broker is away')
  await post(page, text, 1)
  const held = await waitForColumns(
    page,
    `"${text}" local on instance 1 and waiting in its outbox`,
    (c) => column(c, 1).events.some((event) => event.includes(text)) && /^[1-9]/.test(column(c, 1).outbox)
  )
  for (const instance of [2, 3]) expect(column(held, instance).events.join('\n')).not.toContain(text)

  await page.click('#broker-start')
  await page.locator('#broker-state[data-state=running]').waitFor({ timeout: 15_000 })
  const after = await waitForColumns(
    page,
    `every column ready again, the outbox of instance 1 empty and "${text}" everywhere`,
    (c) =>
      c.every((each) => each.status === 'ready' && each.events.some((event) => event.includes(text))) &&
      /^0 /.test(column(c, 1).outbox),
    30_000
  )
  for (const instance of [2, 3]) {
    expect(column(after, instance).events.find((event) => event.includes(text))).toMatch(/from #1 · /)
    expect(column(after, instance).counters.reconnects).toBeGreaterThan(0)
  }
  // The outage shows on the plots: a not-ready span on every column.
  await expect(page.locator('.plot .span.not-ready').count()).resolves.toBeGreaterThan(0)
}, 120_000)
