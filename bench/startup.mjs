// Start-up time of the built CLI against bare Node: `node bench/startup.mjs [runs]`.
// Runs each command alternately (so both see the same machine) and prints medians and
// [min..max] in milliseconds, then one JSON line.
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const runs = Number(process.argv[2] ?? 21);
const cases = {
  'node -e 0': ['node', ['-e', '0']],
  'node apps/cli/dist/main.js addr 0x1000': ['node', ['apps/cli/dist/main.js', 'addr', '0x1000']],
  'node apps/cli/dist/main.js --help': ['node', ['apps/cli/dist/main.js', '--help']],
  'pnpm -s kvmx addr 0x1000': ['pnpm', ['-s', 'kvmx', 'addr', '0x1000']],
};
const only = process.env.STARTUP_CASES?.split(',');
const names = Object.keys(cases).filter((n) => !only || only.some((o) => n.includes(o)));
const times = Object.fromEntries(names.map((n) => [n, []]));
for (let r = 0; r < runs; r++) {
  for (const n of names) {
    const [cmd, args] = cases[n];
    const t0 = process.hrtime.bigint();
    const p = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (p.status !== 0) throw new Error(`${n} exited ${p.status}: ${p.stderr}`);
    times[n].push(ms);
  }
}
const med = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const out = {};
for (const n of names) {
  const s = times[n];
  out[n] = { medianMs: +med(s).toFixed(1), minMs: +Math.min(...s).toFixed(1), maxMs: +Math.max(...s).toFixed(1) };
  console.log(`${n.padEnd(42)} ${out[n].medianMs.toFixed(1).padStart(8)} ms  [${out[n].minMs.toFixed(1)}..${out[n].maxMs.toFixed(1)}]`);
}
const base = out['node -e 0']?.medianMs;
const addr = out['node apps/cli/dist/main.js addr 0x1000']?.medianMs;
if (base && addr) console.log(`addr / node -e 0 = ${(addr / base).toFixed(2)}×`);
console.log(JSON.stringify({ bench: 'startup', runs, node: process.version, ...out }));
void execFileSync;
