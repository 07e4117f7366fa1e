import { parseScenario, DEMO_SCENARIO_YAML } from '@kvmx/scenario';
const texts = {
  hostile: 'name: hostile\nvm: {type: tdx}\nsteps:\n  - write: {gpa: 0x1000, size: -1, byte: 0x11}\n',
  good: 'name: ok\nvm: {type: tdx}\nsteps:\n  - write: {gpa: 0x1000, size: 8, byte: 0x11}\n',
  demo: DEMO_SCENARIO_YAML,
  demoBad: DEMO_SCENARIO_YAML.replace('slot: 0', 'slot: -1'),
};
for (const [k, t] of Object.entries(texts)) {
  for (let i = 0; i < 20; i++) parseScenario(t, 'f');
  const s = performance.now();
  for (let i = 0; i < 200; i++) parseScenario(t, 'f');
  console.log(k, ((performance.now() - s) / 200).toFixed(2), 'ms');
}
