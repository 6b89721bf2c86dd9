/**
 * One instance process, forked by index.ts. Reports its port to the launcher once it listens and its bus
 * is ready; closes gracefully on SIGTERM.
 */
import { buildApp } from './app'

async function main(): Promise<void> {
  const app = await buildApp({
    uri: process.env.EXAMPLE_URI as string,
    key: process.env.EXAMPLE_KEY || undefined,
    durable: process.env.EXAMPLE_DURABLE === '1'
  })
  await app.listen({ host: '127.0.0.1', port: Number(process.env.EXAMPLE_PORT) })
  await app.fanout.ready
  const address = app.server.address()
  process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 })
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)))
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
