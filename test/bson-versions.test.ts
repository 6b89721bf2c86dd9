/**
 * `serializer: 'bson'` with the app's own bson, whichever major it is, and with values of another major
 * in the records (Feathers' MongoDB adapter hands out ObjectIds of the bson the `mongodb` driver uses).
 * Each case runs test/fixtures/bson-app.ts in a directory whose `node_modules/bson` is the major under test.
 */
import { mkdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { mustRun, tempDir } from './helpers/packed'

const root = join(__dirname, '..')
const TSX = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs')
const space = tempDir('fanout-bson-versions')
afterAll(() => space.cleanup())

/** A directory standing for an app whose own bson is the package installed at `node_modules/<pkg>`. */
function appWithBson(pkg: string): string {
  const dir = join(space.dir, pkg)
  mkdirSync(join(dir, 'node_modules'), { recursive: true })
  symlinkSync(join(root, 'node_modules', pkg), join(dir, 'node_modules', 'bson'), 'dir')
  return dir
}

describe.each([
  ['bson6', 6],
  ['bson', 7]
])('an app whose own bson is %s (major %d)', (pkg, major) => {
  it('sends ObjectIds of bson 6 and 7 and receives them as ObjectIds of its bson, Dates as Dates', async () => {
    const out = await mustRun(
      process.execPath,
      [TSX, join(root, 'test/fixtures/bson-app.ts')],
      appWithBson(pkg)
    )
    const report = JSON.parse(out) as { sent: Record<string, string> }
    const { sent } = report
    // One match over the whole report, so a failure shows the errors and the sender's counters too.
    expect(report).toMatchObject({
      appBson: major,
      received: {
        id6: { appObjectId: true, hex: sent.id6 },
        id7: { appObjectId: true, hex: sent.id7 },
        nested: { appObjectId: true, hex: sent.nested },
        price6: { appDecimal128: true, text: '12.50' },
        atIsDate: true,
        at: 1_700_000_000_000
      },
      errors: []
    })
  }, 30_000)
})
