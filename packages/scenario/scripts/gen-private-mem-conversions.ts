// Generates examples/private-mem-conversions-{1,2}vcpu.yaml: a step-for-step port of
// tools/testing/selftests/kvm/x86/private_mem_conversions_test.c (selftests.md B.1), guest
// script and host exit handling, for 1 and 2 vCPUs. The test's loops are unrolled here once,
// so the example files stay plain scenario files anyone can read and edit.
// Usage (from the repo root): node --conditions=@kvmx/source --import tsx \
//   packages/scenario/scripts/gen-private-mem-conversions.ts && npx biome check --write examples

import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PAGE = 0x1000;
const SZ_2M = 0x200000;
const BASE_DATA_GPA = 2 ** 32;
const BASE_DATA_SLOT = 10;
/** PER_CPU_DATA_SIZE = 2 MiB + 4 KiB; each vCPU's data is aligned up to 4 MiB. */
const DATA_SIZE = SZ_2M + PAGE;
const PER_CPU_SIZE = 2 * SZ_2M;
/** The test's own hypercall flags (opaque to KVM): bit 0 set attributes, 1 shared, 2 fallocate. */
const SET_ATTRIBUTES = 1;
const SHARED = 2;
const DO_FALLOCATE = 4;
const RANGES: [number, number][] = [
  [0, PAGE],
  [0, SZ_2M],
  [PAGE, PAGE],
  [PAGE, SZ_2M],
  [SZ_2M, PAGE],
];

const h = (n: number) => `0x${n.toString(16)}`;

type Line = string;

/** The steps of one vCPU's guest code and its VMM thread. */
function vcpuSteps(vcpu: number): Line[] {
  const base = BASE_DATA_GPA + vcpu * PER_CPU_SIZE;
  const v = vcpu === 0 ? '' : `, vcpu: ${vcpu}`;
  const out: Line[] = [];
  const step = (s: string) => out.push(`  - ${s}`);
  const write = (gpa: number, size: number, byte: number) =>
    step(`write: {gpa: ${h(gpa)}, size: ${h(size)}, byte: ${h(byte)}${v}}`);
  const verify = (gpa: number, size: number, byte: number) => {
    if (size <= 0) return;
    step(`read: {gpa: ${h(gpa)}, size: ${h(size)}${v}}`);
    out.push(`    expect: {exit: none, bytes: ${h(byte)}}`);
  };
  const hostSees = (gpa: number, size: number, byte: number) => {
    step(`hostRead: {gpa: ${h(gpa)}, size: ${h(size)}}`);
    out.push(`    expect: {bytes: ${h(byte)}}`);
  };
  // The guest's kvm_hypercall_map_gpa_range() and the host's handle_exit_hypercall().
  const mapGpa = (gpa: number, size: number, flags: number) => {
    const npages = size / PAGE;
    step(`hypercall: {nr: 12, args: [${h(gpa)}, ${npages}, ${h(flags)}]${v}}`);
    out.push(`    expect: {exit: hypercall, nr: 12, args: [${h(gpa)}, ${h(npages)}, ${h(flags)}]}`);
    if (flags & DO_FALLOCATE) {
      step(`${flags & SHARED ? 'punchHole' : 'allocate'}: {gpa: ${h(gpa)}, size: ${h(size)}}`);
    }
    if (flags & SET_ATTRIBUTES) {
      step(`setAttributes: {gpa: ${h(gpa)}, size: ${h(size)}, private: ${!(flags & SHARED)}}`);
    }
    step(`resume: {ret: 0${v}}`);
    out.push('    expect: {exit: none}');
  };

  // Phases 1 and 2: explicit conversions, without and with fallocate().
  for (const doFallocate of [false, true]) {
    const f = doFallocate ? DO_FALLOCATE : 0;
    out.push(
      `  # vCPU ${vcpu}, phase ${doFallocate ? 2 : 1}: explicit conversions${doFallocate ? ' with fallocate()' : ''}`,
    );
    write(base, DATA_SIZE, 0xaa);
    verify(base, DATA_SIZE, 0xaa);
    // GUEST_SYNC_SHARED(base, DATA_SIZE, 0xaa, 0xcc)
    hostSees(base, DATA_SIZE, 0xaa);
    step(`hostWrite: {gpa: ${h(base)}, size: ${h(DATA_SIZE)}, byte: 0xcc}`);
    verify(base, DATA_SIZE, 0xcc);
    for (const [offset, size] of RANGES) {
      const gpa = base + offset;
      out.push(`  # vCPU ${vcpu}: range ${h(offset)} + ${h(size)}`);
      write(gpa, size, 0x11);
      mapGpa(gpa, size, SET_ATTRIBUTES | f);
      if (size > PAGE) {
        // Only the first page is touched privately for ranges larger than a page.
        write(gpa, PAGE, 0x22);
      } else {
        write(gpa, size, 0x22);
        // GUEST_SYNC_PRIVATE: the host still sees the shared copy.
        hostSees(gpa, PAGE, 0x11);
        verify(gpa, size, 0x22);
        verify(base, gpa - base, 0xcc);
        verify(gpa + size, base + DATA_SIZE - (gpa + size), 0xcc);
        // The per-page loop: a one-page range reaches only its even (private) page.
        hostSees(gpa, PAGE, 0x11);
      }
      mapGpa(gpa, size, SET_ATTRIBUTES | SHARED | f);
      write(gpa, size, 0x33);
      // GUEST_SYNC_SHARED(gpa, size, 0x33, 0x44)
      hostSees(gpa, size, 0x33);
      step(`hostWrite: {gpa: ${h(gpa)}, size: ${h(size)}, byte: 0x44}`);
      verify(gpa, size, 0x44);
      write(gpa, size, 0xcc);
      mapGpa(base, DATA_SIZE, SET_ATTRIBUTES | SHARED | DO_FALLOCATE);
    }
  }

  // Phases 3 and 4: punching holes while the attributes stay private.
  for (const precise of [false, true]) {
    out.push(
      `  # vCPU ${vcpu}, phase ${precise ? 4 : 3}: punch hole (${precise ? 'precise' : 'whole region'})`,
    );
    mapGpa(base, DATA_SIZE, SET_ATTRIBUTES);
    for (const [offset, size] of RANGES) {
      const gpa = base + offset;
      mapGpa(base, DATA_SIZE, SHARED | DO_FALLOCATE);
      if (precise) {
        write(gpa, size, 0xcc);
        verify(gpa, size, 0xcc);
      } else {
        write(base, DATA_SIZE, 0xcc);
        verify(base, DATA_SIZE, 0xcc);
      }
      mapGpa(gpa, size, SHARED | DO_FALLOCATE);
      // Private pages re-faulted after the hole is punched come back zeroed.
      verify(gpa, size, 0);
    }
  }
  return out;
}

/** Interleave the vCPUs' step lists one step (with its expect) at a time. */
function interleave(lists: Line[][]): Line[] {
  const chunks = lists.map((lines) => {
    const steps: Line[][] = [];
    for (const line of lines) {
      if (line.startsWith('  - ') || line.startsWith('  #')) steps.push([line]);
      else steps[steps.length - 1]?.push(line);
    }
    return steps;
  });
  const out: Line[] = [];
  for (let i = 0; chunks.some((c) => i < c.length); i++) {
    for (const c of chunks) out.push(...(c[i] ?? []));
  }
  return out;
}

function scenario(nrVcpus: number): string {
  const memfdSize = PER_CPU_SIZE * nrVcpus;
  const header = [
    `# private_mem_conversions with ${nrVcpus} vCPU${nrVcpus === 1 ? '' : 's'}: explicit private<->shared conversions and punch`,
    '# holes on a KVM_X86_SW_PROTECTED_VM, step for step as in',
    '# tools/testing/selftests/kvm/x86/private_mem_conversions_test.c (selftests.md B.1):',
    '#   phases 1/2: convert each test range to private and back with KVM_HC_MAP_GPA_RANGE',
    '#     (without, then with fallocate()); the host keeps seeing the shared copy, the guest',
    '#     its private one;',
    '#   phases 3/4: punch holes while the range stays private; re-faulted pages read zero.',
    "# The hypercall flags are the test's own (bit 0 set attributes, 1 shared, 2 fallocate):",
    '# KVM passes them through untouched. GUEST_SYNC ucalls are host reads and writes here.',
    nrVcpus > 1
      ? '# The vCPUs work on disjoint 4 MiB regions; their steps are interleaved one by one.'
      : '# One vCPU works on [4 GiB, 4 GiB + 2 MiB + 4 KiB).',
    '# Generated by packages/scenario/scripts/gen-private-mem-conversions.ts.',
  ];
  return [
    ...header,
    `name: private_mem_conversions (${nrVcpus} vCPU${nrVcpus === 1 ? '' : 's'})`,
    'vm:',
    '  type: sw_protected',
    `  vcpus: ${nrVcpus}`,
    'steps:',
    `  - memslot: {slot: ${BASE_DATA_SLOT}, gpa: ${h(BASE_DATA_GPA)}, size: ${h(memfdSize)}, guestMemfd: true}`,
    ...interleave(Array.from({ length: nrVcpus }, (_, i) => vcpuSteps(i))),
    '',
  ].join('\n');
}

const examples = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'examples');
for (const n of [1, 2]) {
  const file = join(examples, `private-mem-conversions-${n}vcpu.yaml`);
  writeFileSync(file, scenario(n));
  process.stdout.write(`wrote ${file}\n`);
}
