import { benchGfns, runPagingBench } from '@kvmx/paging';
const g = benchGfns(1000000, 0x9e3779b9);
for (let r = 0; r < 2; r++) { const x = runPagingBench(g, () => performance.now()); console.log('tsx', JSON.stringify({map: x.mapMs|0, look: x.lookupMs|0, zap: x.zap1GiBMs, seq: x.seqLookupMs|0})); }
