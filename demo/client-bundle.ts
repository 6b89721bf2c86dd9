/**
 * The browser side of the client page (demo/public/client.js): the Feathers client, its socket.io
 * transport and feathers-fanout's recovery plugin, bundled once on first request and served by the
 * dashboard as `/client-bundle.js`. The page reads them from the `FanoutClient` global.
 */
import path from 'node:path'
import { build } from 'esbuild'

const ENTRY = `
import { feathers } from '@feathersjs/feathers'
import socketioClient from '@feathersjs/socketio-client'
import { io } from 'socket.io-client'
import { recovery } from './src/client'
globalThis.FanoutClient = { feathers, socketioClient, io, recovery }
`

let bundle: Promise<string> | undefined

/** The bundle's code (built on the first call, in about a second; the same text afterwards). */
export function clientBundle(): Promise<string> {
  bundle ??= build({
    stdin: { contents: ENTRY, resolveDir: path.join(__dirname, '..'), loader: 'ts' },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2020',
    write: false,
    logLevel: 'silent'
  }).then((result) => result.outputFiles[0].text)
  // A failed build is tried again on the next request.
  bundle.catch(() => (bundle = undefined))
  return bundle
}
