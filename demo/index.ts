/**
 * `npm run demo`: several instances of a Feathers chat synced with feathers-fanout. This file runs
 * in the primary (the launcher) and, through `cluster.fork()`, in every instance. See docs/demo.md.
 */
import cluster from 'node:cluster'
import { runInstance } from './instance'
import { parseOptions, USAGE } from './options'
import { runPrimary } from './primary'

async function main(): Promise<number> {
  let options: ReturnType<typeof parseOptions>
  try {
    options = parseOptions(process.argv.slice(2))
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (options === 'help') {
    process.stdout.write(USAGE)
    return 0
  }
  return runPrimary(options)
}

if (cluster.isWorker) {
  void runInstance()
} else {
  main().then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`${error.stack ?? error.message}\n`)
      process.exit(1)
    }
  )
}
