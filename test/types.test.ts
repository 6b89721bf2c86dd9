/**
 * Runs the type tests in test/types with the TypeScript compiler: the public API's types accept what they
 * should, and each `@ts-expect-error` case is refused. test/types/untyped is a program of its own: the
 * Fastify plugin with no topic declared.
 */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

const root = join(__dirname, '..')

function compile(project: string): string {
  try {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', project], {
      cwd: root,
      encoding: 'utf8',
      stdio: 'pipe'
    })
    return ''
  } catch (error) {
    return String((error as { stdout?: string }).stdout ?? error)
  }
}

it('the public API type-checks as documented, and refuses each @ts-expect-error case', () => {
  expect(compile('test/types/tsconfig.json')).toBe('')
}, 120_000)

it('the Fastify plugin takes any topic with unknown data while no topic is declared', () => {
  expect(compile('test/types/untyped/tsconfig.json')).toBe('')
}, 120_000)
