import { benchGfns } from '@kvmx/paging';
import { nodeHost } from './faultin-bench.js';
import { runFaultin } from './faultin.js';
const g = benchGfns(Number(process.argv[2]), 0x9e3779b9).perm;
for (let i = 0; i < Number(process.argv[3] ?? 1); i++) {
  const r = runFaultin(g, (process.argv[4] ?? 'off') as 'off', nodeHost);
  console.log(r.seconds, r.cpuSeconds, r.pagesPerSec, r.rssBytes / 2 ** 20);
}
