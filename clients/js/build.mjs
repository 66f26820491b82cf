// `npm run build`: bundles the demo page (yjs, y-websocket and the wrapper) and the wrapper itself into dist/.
import { build } from 'esbuild'
import { copyFile, mkdir, rm } from 'node:fs/promises'

const dist = new URL('./dist/', import.meta.url)
await rm(dist, { recursive: true, force: true })
await mkdir(dist, { recursive: true })
const common = { bundle: true, format: 'esm', platform: 'browser', target: ['es2022'], logLevel: 'warning' }
await build({ ...common, entryPoints: ['demo/demo.js'], outfile: 'dist/demo.js', minify: true })
await build({ ...common, entryPoints: ['src/index.js'], outfile: 'dist/wiresocket-client.js' })
await copyFile(new URL('./demo/demo.html', import.meta.url), new URL('demo.html', dist))
