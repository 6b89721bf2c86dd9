/**
 * `npm run demo:screenshots`: runs the demo with a Redis it starts itself, drives its dashboard in
 * headless Chromium and saves what it shows to docs/: the fleet in sync after a few messages and a
 * burst, during a broker outage (outbox filling), and after the catch-up and a killed instance.
 */
import path from 'node:path'
import type { Page } from 'playwright-core'
import { ensureBinary, freePort } from '../test/brokers'
import { launchChromium } from '../test/helpers/chromium'
import { openDashboard, post, waitForColumns } from '../test/helpers/dashboard'
import { startDemo } from '../test/helpers/demo-process'

const DOCS = path.join(__dirname, '..', 'docs')
const INSTANCES = 3
const VIEWPORT = { width: 1440, height: 900 }
// A steady trickle of messages first, so the latency plots have a minute-long story to tell.
const TRICKLE = { messages: 60, intervalMs: 250 }

async function shoot(page: Page, name: string): Promise<void> {
  const file = path.join(DOCS, name)
  await page.screenshot({ path: file, fullPage: true })
  process.stdout.write(`Saved ${path.relative(process.cwd(), file)}\n`)
}

async function messages(page: Page, texts: [string, number][]): Promise<void> {
  for (const [text, via] of texts) {
    await post(page, text, via)
    await waitForColumns(page, `"${text}" in every column`, (c) =>
      c.every((each) => each.events.some((event) => event.includes(text)))
    )
  }
}

/** Creates messages through REST on each instance in turn, one every `intervalMs`. */
async function trickle(urls: string[]): Promise<void> {
  for (let n = 0; n < TRICKLE.messages; n++) {
    const url = urls[n % urls.length]
    const response = await fetch(`${url}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: `steady traffic #${n + 1}` })
    })
    if (!response.ok) throw new Error(`POST ${url}/messages answered ${response.status}`)
    await new Promise((resolve) => setTimeout(resolve, TRICKLE.intervalMs))
  }
}

async function main(): Promise<void> {
  ensureBinary('redis-server', 'redis-server')
  const demo = await startDemo({ instances: INSTANCES, uri: `redis://127.0.0.1:${await freePort()}` })
  const browser = await launchChromium(VIEWPORT)
  try {
    const page = await browser.context.newPage()
    await openDashboard(page, demo.dashboard, INSTANCES)
    await trickle(demo.urls)
    await messages(page, [
      ['Hello from instance 1', 1],
      ['Instance 2 here, hearing you', 2],
      ['And instance 3', 3]
    ])
    await page.selectOption('#via', '2')
    await page.click('#burst')
    await page.locator('#notice', { hasText: 'created 1000 events' }).waitFor({ timeout: 60_000 })
    await messages(page, [['That was a burst of 1,000 events', 1]])
    await shoot(page, 'demo-dashboard.png')

    await page.click('#broker-stop')
    await page.locator('#broker-state[data-state=stopped]').waitFor({ timeout: 15_000 })
    await waitForColumns(page, 'the outage', (c) => c.every((each) => each.status === 'reconnecting'))
    for (const [text, via] of [
      ['Posted while the broker is down', 1],
      ['This one waits in the outbox of instance 3', 3]
    ] as const)
      await post(page, text, via)
    await waitForColumns(page, 'messages held in the outboxes', (c) => /^[1-9]/.test(c[2].outbox))
    await shoot(page, 'demo-dashboard-outage.png')

    await page.click('#broker-start')
    await waitForColumns(page, 'the catch-up', (c) =>
      c.every((each) => each.status === 'ready' && /^0 /.test(each.outbox))
    )
    await page.click('.column[data-instance="3"] .kill')
    await waitForColumns(page, 'instance 3 replaced', (c) => c[2].status !== 'ready')
    await waitForColumns(page, 'the replacement ready', (c) => c[2].status === 'ready', 30_000)
    await messages(page, [['Instance 3 was killed and replaced', 1]])
    await shoot(page, 'demo-dashboard-recovered.png')
  } finally {
    await browser.close()
    await demo.stop()
  }
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`)
    process.exit(1)
  }
)
