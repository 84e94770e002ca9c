import { keyedCount } from './keyed-count.js'
await keyedCount(10_000_000, 100_000)
