/**
 * Runs the type tests in test/types with the TypeScript compiler: the public API's types accept what they
 * should, and each `@ts-expect-error` case is refused.
 */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

const root = join(__dirname, '..')

it('the public API type-checks as documented, and refuses each @ts-expect-error case', () => {
  let output = ''
  try {
    execFileSync(
      process.execPath,
      [require.resolve('typescript/bin/tsc'), '-p', 'test/types/tsconfig.json'],
      {
        cwd: root,
        encoding: 'utf8',
        stdio: 'pipe'
      }
    )
  } catch (error) {
    output = String((error as { stdout?: string }).stdout ?? error)
  }
  expect(output).toBe('')
}, 120_000)
