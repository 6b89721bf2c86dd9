// Types of the ES module entry (index.mjs): the same names as the CommonJS build, with `sync` as the
// default export, so `import sync from 'feathers-fanout'` is callable under NodeNext resolution too.
import { sync } from '../dist/src/index.js'

export default sync
export * from '../dist/src/index.js'
