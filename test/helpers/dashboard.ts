/**
 * Reading the demo's dashboard in a browser test: one column per instance, each with a status badge,
 * counters and the events that reached that instance. Failures say what every column showed.
 */
import type { Page } from 'playwright-core'

/** What one column shows, for assertions and failure messages. */
export interface ColumnView {
  instance: number
  status: string
  pid: string
  counters: Record<string, number>
  outbox: string
  events: string[]
}

/** Every column as the page shows it now. */
export function readColumns(page: Page): Promise<ColumnView[]> {
  // No named helpers inside: the function is serialised into the page, and tsx would wrap named
  // functions in a `__name()` the page does not have.
  return page.$$eval('.column', (columns) =>
    columns.map((column) => ({
      instance: Number(column.getAttribute('data-instance')),
      status: column.querySelector('.status')?.textContent ?? '',
      pid: column.querySelector('.pid')?.textContent ?? '',
      counters: Object.fromEntries(
        [...column.querySelectorAll('[data-counter]')].map((dd) => [
          dd.getAttribute('data-counter') ?? '',
          Number((dd.textContent ?? '').replace(/\D/g, ''))
        ])
      ),
      outbox: column.querySelector('.outbox-text')?.textContent ?? '',
      events: [...column.querySelectorAll('.events li')].map((li) => li.textContent ?? '')
    }))
  )
}

const describeColumns = (columns: ColumnView[]): string =>
  columns
    .map(
      (c) =>
        `instance ${c.instance}: status ${c.status}, pid ${c.pid}, counters ${JSON.stringify(c.counters)}, ` +
        `outbox ${c.outbox}, last events ${JSON.stringify(c.events.slice(0, 3))}`
    )
    .join('\n')

/**
 * Polls the columns until `check` holds (bounded by `timeoutMs`); otherwise fails with `what` and
 * what every column showed.
 */
export async function waitForColumns(
  page: Page,
  what: string,
  check: (columns: ColumnView[]) => boolean,
  timeoutMs = 15_000
): Promise<ColumnView[]> {
  const deadline = Date.now() + timeoutMs
  let columns = await readColumns(page)
  while (!check(columns)) {
    if (Date.now() > deadline)
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${what}. The dashboard shows:\n${describeColumns(columns)}`
      )
    await page.waitForTimeout(100)
    columns = await readColumns(page)
  }
  return columns
}

/** Opens the dashboard and waits until `instances` columns are ready. */
export async function openDashboard(page: Page, url: string, instances: number): Promise<ColumnView[]> {
  await page.goto(url)
  return waitForColumns(
    page,
    `${instances} ready columns`,
    (columns) => columns.length === instances && columns.every((column) => column.status === 'ready')
  )
}

/** Posts `text` through the dashboard's form, created on instance `via`. */
export async function post(page: Page, text: string, via: number): Promise<void> {
  await page.selectOption('#via', String(via))
  await page.fill('#text', text)
  await page.click('#post button[type=submit]')
}
