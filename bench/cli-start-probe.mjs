// Loaded into each process bench/cli-start.ts starts (node --import): reports on stderr the CPU
// time (user + system) the process had used when its first HTTP request was made (once
// http.request() or fetch() returned: the client loaded, the request under way) and at exit.
// CPU time, unlike wall time, hardly depends on how busy the machine is.
import http from 'node:http'
import https from 'node:https'
import { syncBuiltinESMExports } from 'node:module'

const cpu = () => {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1000
}
let first = true
const probe = (target, name) => {
  const original = target[name]
  target[name] = function probed(...args) {
    const result = original.apply(this, args)
    if (first) {
      first = false
      process.stderr.write(`\ncli-start-probe request ${cpu().toFixed(1)}\n`)
    }
    return result
  }
}
probe(http, 'request')
probe(https, 'request')
probe(globalThis, 'fetch')
syncBuiltinESMExports()
process.on('exit', () => process.stderr.write(`\ncli-start-probe exit ${cpu().toFixed(1)}\n`))
