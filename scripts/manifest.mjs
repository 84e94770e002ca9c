// Writes oclif.manifest.json from the compiled commands, so the CLI starts without scanning them.
import { writeFileSync } from 'node:fs'
import { Plugin } from '@oclif/core'

const plugin = new Plugin({ root: process.cwd(), type: 'core', isRoot: true, ignoreManifest: true, errorOnManifestCreate: true })
await plugin.load()
const manifest = { ...plugin.manifest, version: plugin.manifest.version }
writeFileSync('oclif.manifest.json', JSON.stringify(manifest, null, 2) + '\n')
