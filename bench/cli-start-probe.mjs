// Loaded into each process bench/cli-start.ts starts (node --import): reports on stderr the CPU
// time (user + system) the process had used at its first fetch() (once that call returned, i.e.
// with Node's HTTP client loaded and the request under way) and at exit. CPU time, unlike wall
// time, hardly depends on how busy the machine is.
const cpu = () => {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1000
}
const original = globalThis.fetch
let first = true
globalThis.fetch = function probedFetch(...args) {
  const result = original.apply(this, args)
  if (first) {
    first = false
    process.stderr.write(`\ncli-start-probe fetch ${cpu().toFixed(1)}\n`)
  }
  return result
}
process.on('exit', () => process.stderr.write(`\ncli-start-probe exit ${cpu().toFixed(1)}\n`))
