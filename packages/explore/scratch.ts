import { explore, runSequence, exploreVmConfig, prologue, StepExecutor } from './src/index.js';
import { checkInvariants } from '@kvmx/kvm-x86';
const vm = (process.argv[2] ?? 'tdx') as 'tdx';
// monkeypatch to time the checker
let inv = 0;
const orig = StepExecutor.prototype.violations;
StepExecutor.prototype.violations = function () { const t = performance.now(); const r = orig.call(this); inv += performance.now() - t; return r; };
const t = performance.now();
const r = explore({ vm, steps: 500, runs: 40, seed: 1 });
const ms = performance.now() - t;
console.log(vm, r.steps, Math.round(r.steps / (ms / 1000)), 'steps/s', 'checker ms', inv.toFixed(0), 'of', ms.toFixed(0));
