import fc from 'fast-check';
import { parseScenario, planRun, runPlan } from '@kvmx/scenario';
import { adversarialScenario } from './src/adversarial.js';
const samples = fc.sample(adversarialScenario(), { numRuns: 1500, seed: 20261125 });
const by = new Map<string, [number, number, number]>();
for (const input of samples) {
  const t = performance.now();
  let stage = 'parse';
  const parsed = parseScenario(input.text, 'fuzz.yaml');
  const tp = performance.now();
  if (parsed.ok) { const plan = planRun(parsed.value); if (plan.ok) { stage = 'run'; runPlan(plan.value); } }
  const ms = performance.now() - t;
  const k = `${input.kind}/${stage}`;
  const e = by.get(k) ?? [0, 0, 0];
  e[0]++; e[1] += ms; e[2] = Math.max(e[2], tp - t);
  by.set(k, e);
}
for (const [k, [n, ms, mx]] of [...by].sort((a, b) => b[1][1] - a[1][1])) console.log(k.padEnd(30), n, ms.toFixed(0), 'ms total; max parse', mx.toFixed(1));
