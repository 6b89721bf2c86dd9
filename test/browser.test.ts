/**
 * The demo in a real browser: headless Chromium opens two instances' pages (two processes synced
 * through the cluster adapter), a message posted on one page appears on the other.
 * Chromium is installed like the test brokers when missing (root + apt-get), otherwise the test
 * fails with the exact command to run.
 */
import type { BrowserContext, Page } from 'playwright-core'
import { uniqueKey } from './helpers/apps'
import { launchChromium, type Browser } from './helpers/chromium'
import { startDemo, type DemoProcess } from './helpers/demo-process'

let demo: DemoProcess | undefined
let browser: Browser | undefined
let context: BrowserContext | undefined

beforeAll(async () => {
  demo = await startDemo({ instances: 2 })
  browser = await launchChromium()
  context = browser.context
}, 15 * 60_000)

afterAll(async () => {
  await browser?.close()
  await demo?.stop()
})

async function open(url: string): Promise<Page> {
  const page = await (context as BrowserContext).newPage()
  await page.goto(url)
  await page.locator('#status.live').waitFor({ timeout: 10_000 })
  return page
}

it("shows a message posted on one instance's page live on another instance's page", async () => {
  const [first, second] = (demo as DemoProcess).urls
  const [pageA, pageB] = [await open(first), await open(second)]
  await expect(pageA.locator('#who').textContent()).resolves.toBe('Instance 1 of 2')
  await expect(pageB.locator('#who').textContent()).resolves.toBe('Instance 2 of 2')
  // Each instance's page links to the dashboard the demo's primary serves.
  await expect(pageA.locator('#dashboard').getAttribute('href')).resolves.toBe(
    (demo as DemoProcess).dashboard
  )

  const text = uniqueKey('hello from the browser')
  await pageA.fill('#text', text)
  await pageA.click('button[type=submit]')

  const arrived = pageB.locator('#messages li', { hasText: text })
  await arrived.waitFor({ timeout: 10_000 })
  await expect(arrived.locator('.from').textContent()).resolves.toBe('from instance 1')
  await pageA.locator('#messages li', { hasText: text }).waitFor({ timeout: 10_000 })
  await expect(pageA.locator('#messages li', { hasText: text }).locator('.from').textContent()).resolves.toBe(
    'posted here'
  )
  expect(await pageB.locator('#messages li', { hasText: text }).count()).toBe(1)
}, 60_000)
