// KVM's side of a TD's TDG.VP.VMCALL<MapGPA>: validate (GHCI statuses in R10), then one
// KVM_EXIT_HYPERCALL(KVM_HC_MAP_GPA_RANGE) per chunk of at most 2 MiB counted from the current
// GPA, the shared bit stripped from args[0] and turned into DECRYPTED/ENCRYPTED in args[2];
// userspace's hypercall.ret ≠ 0 fails the call with INVALID_OPERAND and R11 = the GPA reached;
// a pending event between chunks returns RETRY with R11 = where to continue.
// Kernel: arch/x86/kvm/vmx/tdx.c (tdx_map_gpa, __tdx_map_gpa, tdx_complete_vmcall_map_gpa);
// arch/x86/include/asm/shared/tdx.h (TDVMCALL_STATUS_*); GHCI spec, MapGPA.

import assert from 'node:assert/strict';
import {
  KVM_EXIT_HYPERCALL_LONG_MODE,
  KVM_HC_MAP_GPA_RANGE,
  KVM_MAP_GPA_RANGE_DECRYPTED,
  KVM_MAP_GPA_RANGE_ENCRYPTED,
  type MapGpaChunk,
  type MapGpaStep,
  TDVMCALL_STATUS_ALIGN_ERROR,
  TDVMCALL_STATUS_INVALID_OPERAND,
  TDVMCALL_STATUS_RETRY,
  TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED,
  TDVMCALL_STATUS_SUCCESS,
  TDX_MAP_GPA_MAX_LEN,
  type TdvmcallStatus,
  TdxMapGpa,
  tdvmcallStatusName,
} from '@kvmx/vendor-ops';

const SHARED = 2 ** 47; // GPAW 48
const AREA = 0x8000_0000;

// R10 values (bit 63 marks an error), as {hi, lo} 32-bit halves.
const statuses: TdvmcallStatus[] = [
  TDVMCALL_STATUS_SUCCESS,
  TDVMCALL_STATUS_RETRY,
  TDVMCALL_STATUS_INVALID_OPERAND,
  TDVMCALL_STATUS_ALIGN_ERROR,
  TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED,
];
assert.deepEqual(
  statuses.map(
    (s) =>
      `${tdvmcallStatusName(s)}=0x${s.hi.toString(16).padStart(8, '0')}${s.lo.toString(16).padStart(8, '0')}`,
  ),
  [
    'TDVMCALL_STATUS_SUCCESS=0x0000000000000000',
    'TDVMCALL_STATUS_RETRY=0x0000000000000001',
    'TDVMCALL_STATUS_INVALID_OPERAND=0x8000000000000000',
    'TDVMCALL_STATUS_ALIGN_ERROR=0x8000000000000002',
    'TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED=0x8000000000000003',
  ],
);
assert.equal(TDX_MAP_GPA_MAX_LEN, 2 * 1024 * 1024);

// 5 MiB from AREA + 4K to shared: three exits, counted from the current GPA (not 2M-aligned).
const started = TdxMapGpa.start(true, 48, SHARED + AREA + 0x1000, 0x50_0000);
assert.ok(started.state !== null);
const map = started.state;
let step: MapGpaStep = started.step;
const chunks: MapGpaChunk[] = [];
while (step.kind === 'exit') {
  chunks.push(step.chunk);
  step = map.complete(0, false); // userspace converted the chunk
}
assert.deepEqual(chunks, [
  {
    nr: KVM_HC_MAP_GPA_RANGE,
    args: [AREA + 0x1000, 512, KVM_MAP_GPA_RANGE_DECRYPTED],
    flags: KVM_EXIT_HYPERCALL_LONG_MODE,
  },
  {
    nr: KVM_HC_MAP_GPA_RANGE,
    args: [AREA + 0x20_1000, 512, KVM_MAP_GPA_RANGE_DECRYPTED],
    flags: KVM_EXIT_HYPERCALL_LONG_MODE,
  },
  {
    nr: KVM_HC_MAP_GPA_RANGE,
    args: [AREA + 0x40_1000, 256, KVM_MAP_GPA_RANGE_DECRYPTED],
    flags: KVM_EXIT_HYPERCALL_LONG_MODE,
  },
]);
assert.deepEqual(step, { kind: 'return', status: TDVMCALL_STATUS_SUCCESS, r11: 0 });

// To private (no shared bit): ENCRYPTED. A pending interrupt after the first chunk: RETRY,
// R11 = the next GPA; the guest calls MapGPA again from there.
const priv = TdxMapGpa.start(true, 48, AREA, 0x40_0000);
assert.ok(priv.state !== null && priv.step.kind === 'exit');
assert.equal(priv.step.chunk.args[2], KVM_MAP_GPA_RANGE_ENCRYPTED);
assert.deepEqual(priv.state.complete(0, true), {
  kind: 'return',
  status: TDVMCALL_STATUS_RETRY,
  r11: AREA + 0x20_0000,
});

// Userspace refuses: INVALID_OPERAND, R11 = the GPA of the refused chunk (shared bit kept).
const refused = TdxMapGpa.start(true, 48, SHARED + AREA, 0x1000);
assert.ok(refused.state !== null);
assert.deepEqual(refused.state.complete(-22, false), {
  kind: 'return',
  status: TDVMCALL_STATUS_INVALID_OPERAND,
  r11: SHARED + AREA,
});

// Refused before any exit: no KVM_CAP_EXIT_HYPERCALL, a range straddling the shared bit or
// beyond GPAW, zero size, misalignment. R11 = the GPA the guest passed.
const answer = (exit: boolean, gpa: number, size: number) => {
  const r = TdxMapGpa.start(exit, 48, gpa, size);
  return r.step.kind === 'return' ? tdvmcallStatusName(r.step.status) : 'exit';
};
assert.equal(answer(false, AREA, 0x1000), 'TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED');
assert.equal(answer(true, SHARED - 0x1000, 0x2000), 'TDVMCALL_STATUS_INVALID_OPERAND');
assert.equal(answer(true, 2 ** 48 - 0x1000, 0x2000), 'TDVMCALL_STATUS_INVALID_OPERAND');
assert.equal(answer(true, AREA, 0), 'TDVMCALL_STATUS_INVALID_OPERAND');
assert.equal(answer(true, AREA + 0x10, 0x1000), 'TDVMCALL_STATUS_ALIGN_ERROR');
assert.equal(answer(true, AREA, 0x1000), 'exit');
// GPAW 52: the shared bit is 51.
const wide = TdxMapGpa.start(true, 52, 2 ** 51 + AREA, 0x1000);
assert.ok(wide.step.kind === 'exit');
assert.deepEqual(wide.step.chunk.args, [AREA, 1, KVM_MAP_GPA_RANGE_DECRYPTED]);
