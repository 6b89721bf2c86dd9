/**
 * Headless Chromium from the Debian package, driven by playwright-core, for the browser tests and
 * `npm run demo:screenshots`: a fresh profile in a temp dir, no network beyond what the page opens.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'
import { ensureBinary } from '../brokers/install'

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic'
]

export interface Browser {
  readonly context: BrowserContext
  /** Closes the browser and removes its profile. */
  close(): Promise<void>
}

/**
 * Launches Chromium with an empty profile. It is installed like the test brokers when missing
 * (root + apt-get); otherwise this throws with the exact command to run.
 */
export async function launchChromium(viewport?: { width: number; height: number }): Promise<Browser> {
  const executablePath = ensureBinary('chromium', 'chromium', ['/usr/bin/chromium'])
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-chromium-'))
  try {
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: CHROMIUM_FLAGS,
      timeout: 30_000,
      viewport: viewport ?? null
    })
    return {
      context,
      close: async () => {
        await context.close()
        fs.rmSync(userDataDir, { recursive: true, force: true })
      }
    }
  } catch (error) {
    fs.rmSync(userDataDir, { recursive: true, force: true })
    throw error
  }
}
