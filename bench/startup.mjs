// Start-up time of the built CLI against bare Node: `node bench/startup.mjs [runs] [cases]` after
// `pnpm build`. Runs the cases alternately (so all see the same machine) and prints the
// median and [min..max] wall time and, when /usr/bin/time exists, CPU time (user + system,
// less sensitive to a busy machine), then one JSON line.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const runs = Number(process.argv[2] ?? 21);
const timeBin = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
const cases = {
  'node -e 0': ['node', ['-e', '0']],
  'node apps/cli/dist/main.js addr 0x1000': ['node', ['apps/cli/dist/main.js', 'addr', '0x1000']],
  'node apps/cli/dist/main.js --help': ['node', ['apps/cli/dist/main.js', '--help']],
  'pnpm -s kvmx addr 0x1000': ['pnpm', ['-s', 'kvmx', 'addr', '0x1000']],
};
// Optional second argument: comma-separated parts of case names to run (default: all).
const only = process.argv[3]?.split(',');
const names = Object.keys(cases).filter((n) => !only || only.some((o) => n.includes(o)));
const wall = Object.fromEntries(names.map((n) => [n, []]));
const cpu = Object.fromEntries(names.map((n) => [n, []]));
for (let r = 0; r < runs; r++) {
  for (const n of names) {
    const [cmd, args] = cases[n];
    const argv = timeBin ? ['-f', 'KVMX_CPU %U %S', cmd, ...args] : args;
    const t0 = process.hrtime.bigint();
    const p = spawnSync(timeBin ?? cmd, argv, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (p.status !== 0) throw new Error(`${n} exited ${p.status}: ${p.stderr}`);
    wall[n].push(ms);
    const m = /KVMX_CPU ([\d.]+) ([\d.]+)/.exec(String(p.stderr));
    if (m) cpu[n].push((Number(m[1]) + Number(m[2])) * 1000);
  }
}
const med = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const out = {};
const fmt = (x) => x.toFixed(0).padStart(6);
for (const n of names) {
  const w = wall[n];
  const c = cpu[n];
  out[n] = {
    wallMs: +med(w).toFixed(1),
    wallRangeMs: [+Math.min(...w).toFixed(1), +Math.max(...w).toFixed(1)],
    ...(c.length ? { cpuMs: +med(c).toFixed(1) } : {}),
  };
  console.log(
    `${n.padEnd(42)} wall ${fmt(med(w))} ms [${fmt(Math.min(...w))}..${fmt(Math.max(...w))}]${c.length ? `  CPU ${fmt(med(c))} ms` : ''}`,
  );
}
const base = out['node -e 0'];
const addr = out['node apps/cli/dist/main.js addr 0x1000'];
const ratios = {};
if (base && addr) {
  ratios.addrWall = +(addr.wallMs / base.wallMs).toFixed(2);
  if (addr.cpuMs && base.cpuMs) ratios.addrCpu = +(addr.cpuMs / base.cpuMs).toFixed(2);
  console.log(
    `kvmx addr / node -e 0: wall ${ratios.addrWall}×${ratios.addrCpu ? `, CPU ${ratios.addrCpu}×` : ''} (target ≤ 2×)`,
  );
}
console.log(JSON.stringify({ bench: 'startup', runs, node: process.version, ...out, ratios }));
