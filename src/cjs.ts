// CommonJS entry: `require('feathers-fanout')` is the callable `sync`, like feathers-sync,
// and carries every named export too (including `default`, for transpiled ES imports).
import * as api from './index'

const entry = Object.assign(api.sync, api, { default: api.sync })

export = entry
