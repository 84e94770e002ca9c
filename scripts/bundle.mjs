// Bundles the command line (src/cli/main.ts and every command, with oclif and the small libraries
// they use) into dist/cli-bundle/, so that starting `tsflink` reads a few files instead of a few
// hundred. Run after tsc (npm run build), before scripts/manifest.mjs.
//
// Left out of the bundle, and imported from tsc's output in dist/ through the package's "#dist/*"
// import map: the runtime (src/runtime, src/index.ts: a job program imports the same modules as
// the 'tsflink' library, and they must be single instances), and the CLI modules that find files
// relative to themselves or load job programs (program loader, resolve hook, run and detach
// services). Heavy libraries loaded only by some commands (ora, tsx, the AWS SDK, kafkajs) stay
// behind dynamic imports: in the bundle they become chunks of their own, loaded on first use.
import { build } from 'esbuild'
import { readdirSync, rmSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(fileURLToPath(new URL('..', import.meta.url)))
const src = join(root, 'src')
const outdir = join(root, 'dist', 'cli-bundle')

/**
 * Runtime modules that are bundled all the same: stateless, and costly to load file by file. The
 * configuration loader pulls in the YAML parser (about 80 files), which every command would pay for.
 */
const BUNDLED_RUNTIME = new Set(['runtime/config/loader.ts'])

/** Source files kept out of the bundle (besides the rest of the runtime). */
const UNBUNDLED = new Set([
  'index.ts',
  'cli/program-loader.ts',
  'cli/resolve-hook.ts',
  'cli/services/run.ts',
  'cli/services/detach.ts',
])

function commandFiles(dir) {
  const out = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...commandFiles(p))
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

const entryPoints = { main: join(src, 'cli', 'main.ts') }
for (const file of commandFiles(join(src, 'commands'))) {
  entryPoints[relative(src, file).replace(/\.ts$/, '')] = file
}

const keepRuntimeOut = {
  name: 'keep-runtime-out',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (!args.importer.startsWith(src)) return undefined
      // Inside a bundled runtime module, relative imports still point into the runtime.
      const target = resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts')
      const rel = relative(src, target).split('\\').join('/')
      if ((rel.startsWith('runtime/') && !BUNDLED_RUNTIME.has(rel)) || UNBUNDLED.has(rel)) return { path: `#dist/${rel.replace(/\.ts$/, '.js')}`, external: true }
      return undefined
    })
  },
}

rmSync(outdir, { recursive: true, force: true })
await build({
  entryPoints,
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  // oclif's optional TypeScript support is never used by a built CLI.
  external: ['typescript', 'ts-node'],
  plugins: [keepRuntimeOut],
  // CommonJS code in the bundle (oclif) calls require() and reads __dirname.
  banner: {
    js: [
      "import { createRequire as __tsflinkRequire } from 'node:module';",
      "import { fileURLToPath as __tsflinkPath } from 'node:url';",
      'const require = __tsflinkRequire(import.meta.url);',
      'const __filename = __tsflinkPath(import.meta.url);',
      "const __dirname = __tsflinkPath(new URL('.', import.meta.url));",
    ].join(' '),
  },
  legalComments: 'none',
  logLevel: 'warning',
})
