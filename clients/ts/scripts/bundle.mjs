// Builds the browser bundles with esbuild and prints their sizes, minified
// and gzipped at level 9 (how the peers' clients are compared):
//
//	node scripts/bundle.mjs lib [outfile]      the package for browsers (dist/bettersocket.min.js)
//	node scripts/bundle.mjs secure [outfile]   what encryption adds (@bettersocket/client/secure and its @noble code)
//	node scripts/bundle.mjs example [outfile]  the web chat page (examples/webchat/static/app.js)
import { build } from 'esbuild'
import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'

const targets = {
  lib: { entry: 'src/index.ts', out: 'dist/bettersocket.min.js' },
  secure: { entry: 'src/secure.ts', out: 'dist/bettersocket-secure.min.js' },
  example: { entry: '../../examples/webchat/web/app.ts', out: '../../examples/webchat/static/app.js' }
}
// Members whose names start with _ are internal (the package's convention):
// mangleProps shortens them, which the minifier cannot do on its own.
const which = process.argv[2] ?? 'lib'
const t = targets[which]
if (t === undefined) throw new Error(`unknown bundle ${which}: lib or example`)
const outfile = process.argv[3] ?? t.out
await build({ entryPoints: [t.entry], outfile, bundle: true, minify: true, format: 'esm', target: 'es2022', legalComments: 'none', logLevel: 'warning', mangleProps: /^_/ })
const b = readFileSync(outfile)
console.log(`${outfile}: ${b.length} bytes minified, ${gzipSync(b, { level: 9 }).length} bytes gzip -9`)
