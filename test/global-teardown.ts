/** Jest globalTeardown: stops the shared brokers that test/global-setup.ts started (not external ones). */
import { takeSharedBrokers, URL_ENV } from './global-setup'

export default async function globalTeardown(): Promise<void> {
  const handles = takeSharedBrokers()
  const results = await Promise.allSettled(handles.map((handle) => handle.stop()))
  // In watch mode the next run's globalSetup must start fresh brokers, not reuse these dead URLs.
  for (const handle of handles) delete process.env[URL_ENV[handle.kind]]
  const failures = results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []))
  if (failures.length > 0) {
    const messages = failures.map((reason) => (reason instanceof Error ? reason.message : String(reason)))
    throw new Error(`Could not stop the shared test brokers:\n\n${messages.join('\n\n')}`)
  }
}
