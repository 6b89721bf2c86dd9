/**
 * The demo's dashboard in headless Chromium: three instances (separate processes synced through the
 * cluster adapter) side by side. A message posted on the page shows up in every column, a killed
 * instance comes back as a replacement, and the burst and junk buttons move every column's counters.
 */
import type { Page } from 'playwright-core'
import { isAlive } from './brokers'
import { uniqueKey } from './helpers/apps'
import { launchChromium, type Browser } from './helpers/chromium'
import { openDashboard, post, waitForColumns, type ColumnView } from './helpers/dashboard'
import { startDemo, type DemoProcess } from './helpers/demo-process'

const INSTANCES = 3
let demo: DemoProcess | undefined
let browser: Browser | undefined
let page: Page

beforeAll(async () => {
  demo = await startDemo({ instances: INSTANCES })
  browser = await launchChromium({ width: 1400, height: 1000 })
  page = await browser.context.newPage()
}, 15 * 60_000)

afterAll(async () => {
  await browser?.close()
  await demo?.stop()
})

const column = (columns: ColumnView[], instance: number): ColumnView =>
  columns.find((each) => each.instance === instance) as ColumnView

const showsEverywhere = (text: string) => (columns: ColumnView[]) =>
  columns.length === INSTANCES && columns.every((each) => each.events.some((event) => event.includes(text)))

it('lists every instance, ready, with its pid, adapter and channel key', async () => {
  const columns = await openDashboard(page, (demo as DemoProcess).dashboard, INSTANCES)
  expect(columns.map((each) => each.instance)).toEqual([1, 2, 3])
  expect(new Set(columns.map((each) => each.pid)).size).toBe(INSTANCES)
  await expect(page.locator('.column .adapter').allTextContents()).resolves.toEqual([
    'cluster',
    'cluster',
    'cluster'
  ])
  await expect(page.locator('.column .key').first().textContent()).resolves.toBe('feathers-fanout-demo')
}, 60_000)

it('shows a message posted on the dashboard in every column: local on its instance, remote with a latency elsewhere', async () => {
  const text = uniqueKey('hello dashboard')
  await post(page, text, 2)
  const columns = await waitForColumns(page, `"${text}" in every column`, showsEverywhere(text))
  const line = (instance: number) => column(columns, instance).events.find((event) => event.includes(text))
  expect(line(2)).toBe(`${text}local`)
  expect(line(1)).toMatch(new RegExp(`^${text}from #2 · \\d+\\.\\d ms$`))
  expect(line(3)).toMatch(new RegExp(`^${text}from #2 · \\d+\\.\\d ms$`))
  // A page opened now gets the same events from each instance's history.
  const late = await (browser as Browser).context.newPage()
  await openDashboard(late, (demo as DemoProcess).dashboard, INSTANCES)
  await waitForColumns(late, `"${text}" in every column of a page opened later`, showsEverywhere(text))
  await late.close()
}, 60_000)

it('kills an instance from its column and shows the replacement ready, in sync again', async () => {
  const before = column(await waitForColumns(page, 'ready columns', (c) => c.length === INSTANCES), 2)
  await page.click('.column[data-instance="2"] .kill')
  await waitForColumns(page, 'instance 2 to go down', (c) => column(c, 2).status !== 'ready')
  const columns = await waitForColumns(
    page,
    `a replacement of instance 2 (pid ${before.pid}) to be ready`,
    (c) =>
      column(c, 2).status === 'ready' && column(c, 2).pid !== before.pid && /^\d+$/.test(column(c, 2).pid),
    30_000
  )
  expect(isAlive(Number(before.pid))).toBe(false)
  expect(await page.locator('.column[data-instance="2"] .replaced').textContent()).toBe(' · replaced 1×')
  // A new process: its counters start over.
  expect(before.counters.published).toBeGreaterThan(0)
  expect(column(columns, 2).counters.published).toBe(0)

  const text = uniqueKey('after the replacement')
  await post(page, text, 1)
  const after = await waitForColumns(page, `"${text}" in every column`, showsEverywhere(text))
  expect(column(after, 2).events.find((event) => event.includes(text))).toMatch(/from #1 · /)
}, 60_000)

it('shows a burst of 1,000 events and a junk flood in every column’s counters', async () => {
  const start = await waitForColumns(page, 'ready columns', (c) => c.every((each) => each.status === 'ready'))
  await page.selectOption('#via', '3')
  await page.click('#burst')
  const burst = await waitForColumns(
    page,
    'instances 1 and 2 to deliver 1,000 more events and instance 3 to publish them',
    (c) =>
      column(c, 3).counters.published >= column(start, 3).counters.published + 1_000 &&
      [1, 2].every((n) => column(c, n).counters.delivered >= column(start, n).counters.delivered + 1_000),
    60_000
  )
  await expect(page.locator('#notice').textContent()).resolves.toMatch(
    /^Instance 3 created 1000 events in \d+ ms$/
  )

  await page.click('#junk')
  await waitForColumns(
    page,
    'every instance to drop 1,000 junk messages',
    (c) => c.every((each) => each.counters.dropped >= column(burst, each.instance).counters.dropped + 1_000),
    60_000
  )
  const title = await page.locator('.column[data-instance="1"] [data-counter=dropped]').getAttribute('title')
  expect(title).toMatch(/^undecodable: \d+/m)
}, 120_000)
