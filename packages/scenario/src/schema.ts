// The scenario file format of CONTRACTS §2 as zod schemas: the whole file (for types and the
// JSON Schema editors use) and one schema per operation (for validation with precise
// messages). Unknown keys are refused everywhere (strict objects).

import { VM_TYPE_NAMES } from '@kvmx/address';
import { KVM_INJECTIONS } from '@kvmx/vendor-ops';
import { z } from 'zod';
import {
  byteSchema,
  gpaSchema,
  levelSchema,
  sizeSchema,
  u64Schema,
  uintSchema,
  vcpuSchema,
} from './numbers.js';
import { SNP_PAGE_TYPE_NAMES } from './scenario.js';

/** Host (VMM) operations, named after the KVM interfaces they model. */
export const HOST_OPS = [
  'memslot',
  'setAttributes',
  'punchHole',
  'allocate',
  'hostWrite',
  'hostRead',
  'initMemRegion',
  'finalize',
  'invalidateHva',
  'preFault',
  'destroy',
  'seamcall',
  'check',
] as const;
/** Guest operations: each one is a KVM_RUN of one vCPU. */
export const GUEST_OPS = [
  'write',
  'read',
  'accept',
  'mapGpa',
  'hypercall',
  'pvalidate',
  'resume',
] as const;
export const OP_NAMES = [...HOST_OPS, ...GUEST_OPS] as const;
export type HostOpName = (typeof HOST_OPS)[number];
export type GuestOpName = (typeof GUEST_OPS)[number];
export type OpName = (typeof OP_NAMES)[number];

export function isOpName(name: string): name is OpName {
  return (OP_NAMES as readonly string[]).includes(name);
}
export function isGuestOp(name: OpName): name is GuestOpName {
  return (GUEST_OPS as readonly string[]).includes(name);
}

/** Keys a step may hold besides its one operation. */
export const STEP_KEYS = ['expect', 'expectOn', 'only', 'note'] as const;

/**
 * Exit reasons a step can end in (KVM_EXIT_* in lower case, as CONTRACTS §1 writes them),
 * plus `ve`: a TDX guest stopped by a #VE it did not handle (no `autoAccept`), and `none`.
 */
export const EXIT_REASONS = [
  'none',
  'memory_fault',
  'hypercall',
  'mmio',
  'io',
  'system_event',
  'shutdown',
  'internal_error',
  'unknown',
  'tdx',
  've',
] as const;
export type ExitReasonName = (typeof EXIT_REASONS)[number];

/** errno names a host operation can fail with (Linux asm-generic/errno-base.h, errno.h). */
export const ERRNO_NAMES = [
  'EPERM',
  'ENOENT',
  'EINTR',
  'EIO',
  'ENXIO',
  'E2BIG',
  'EBADF',
  'EAGAIN',
  'ENOMEM',
  'EACCES',
  'EFAULT',
  'EBUSY',
  'EEXIST',
  'ENODEV',
  'EINVAL',
  'EFBIG',
  'ENOSPC',
  'ERANGE',
  'ENOSYS',
  'ENOTTY',
  'EOPNOTSUPP',
  'EHWPOISON',
] as const;
export type ErrnoName = (typeof ERRNO_NAMES)[number];

export const CHECK_ROOTS = ['direct', 'mirror', 'sept', 'rmp'] as const;
export type CheckRoot = (typeof CHECK_ROOTS)[number];

export const MEMSLOT_FLAGS = ['readonly', 'log_dirty'] as const;

const vmTypeEnum = z.enum(VM_TYPE_NAMES);
/** The injectable KVM bugs of the model (`kvmx explore --list-injections`). */
const INJECTION_NAMES = KVM_INJECTIONS.map((i) => i.name);
const bool = z.boolean();
/** TDX status names as the module writes them (validated against the model at run time). */
const statusName = z
  .string()
  .regex(/^TDX_[A-Z0-9_]+$/, 'expected a TDX status name such as TDX_SUCCESS');
/** SEAMCALL leaf names with dots, as the module's spec writes them: TDH.MEM.PAGE.AUG. */
const leafName = z
  .string()
  .regex(/^TD[HG](?:\.[A-Z0-9_]+)+$/, 'expected a leaf name such as TDH.MEM.PAGE.AUG');

export const vmSchema = z
  .strictObject({
    type: vmTypeEnum,
    vcpus: uintSchema('vcpus', {
      min: 1,
      limit: 65,
      limitName: '65 (at most 64 vCPUs)',
    }).optional(),
    gpaw: z.union([z.literal(48), z.literal(52)], { error: 'gpaw: expected 48 or 52' }).optional(),
    cbit: uintSchema('cbit', { min: 12, limit: 52, limitName: '52 (C-bit 12..51)' }).optional(),
    exitHypercall: bool.optional(),
    autoConvert: bool.optional(),
    autoAccept: bool.optional(),
    septVeDisable: bool.optional(),
    inject: z.enum(INJECTION_NAMES).optional(),
    invariants: bool.optional(),
  })
  .meta({
    id: 'vm',
    description: 'The VM to create: KVM_CREATE_VM with the type, then per-type init.',
  });

// ---- host operations ----

const range = { gpa: gpaSchema, size: sizeSchema };
const noFields = z.union([z.null(), z.strictObject({})], {
  error: 'expected no fields: write the key alone or with {}',
});

const memslotBody = z.strictObject({
  slot: uintSchema('slot', { limit: 32768, limitName: '32768 (KVM_MEM_SLOTS_NUM)' }),
  ...range,
  guestMemfd: z
    .union(
      [
        bool,
        z.strictObject({
          offset: sizeSchema.optional(),
          id: uintSchema('guestMemfd id', { limit: 1024 }).optional(),
          size: sizeSchema.optional(),
        }),
      ],
      { error: 'guestMemfd: expected true/false or {offset, id, size}' },
    )
    .optional(),
  flags: z.array(z.enum(MEMSLOT_FLAGS)).optional(),
  hostHugePages: bool.optional(),
});

const seamcallBody = z.strictObject({
  leaf: leafName,
  gpa: gpaSchema.optional(),
  level: levelSchema.optional(),
  pfn: uintSchema('pfn', { limit: 2 ** 40, limitName: '2^40' }).optional(),
  tdr: uintSchema('tdr').optional(),
  source: uintSchema('source').optional(),
  rcx: u64Schema('rcx').optional(),
  rdx: u64Schema('rdx').optional(),
  r8: u64Schema('r8').optional(),
  r9: u64Schema('r9').optional(),
});

export const checkMappingSchema = z.strictObject({
  gpa: gpaSchema,
  root: z.enum(CHECK_ROOTS),
  mapped: bool.optional(),
  level: levelSchema.optional(),
  state: z
    .string()
    .regex(/^[A-Za-z_]+$/, 'expected a state name such as PENDING or validated')
    .optional(),
});
export const checkMrtdSchema = z.strictObject({
  mrtd: z
    .string()
    .regex(/^0x[0-9a-fA-F]{96}$/, 'expected the 48-byte MRTD as 0x followed by 96 hex digits'),
});
export const checkInvariantsSchema = z.strictObject({ invariants: z.literal(true) });
const checkBody = z.union([checkMappingSchema, checkMrtdSchema, checkInvariantsSchema], {
  error: 'check: expected {gpa, root, mapped, level, state}, {mrtd} or {invariants: true}',
});

// ---- guest operations ----

const vcpu = { vcpu: vcpuSchema.optional() };

export const OP_BODIES = {
  memslot: memslotBody,
  setAttributes: z.strictObject({ ...range, private: bool }),
  punchHole: z.strictObject(range),
  allocate: z.strictObject(range),
  hostWrite: z.strictObject({ ...range, byte: byteSchema }),
  hostRead: z.strictObject(range),
  initMemRegion: z.strictObject({
    ...range,
    measure: bool.optional(),
    pageType: z.enum(SNP_PAGE_TYPE_NAMES).optional(),
  }),
  finalize: noFields,
  invalidateHva: z.strictObject(range),
  preFault: z.strictObject({ ...range, ...vcpu }),
  destroy: noFields,
  seamcall: seamcallBody,
  check: checkBody,
  write: z.strictObject({ ...range, byte: byteSchema, private: bool.optional(), ...vcpu }),
  read: z.strictObject({ ...range, private: bool.optional(), ...vcpu }),
  accept: z.strictObject({
    gpa: gpaSchema,
    size: sizeSchema.optional(),
    level: levelSchema.optional(),
    ...vcpu,
  }),
  mapGpa: z.strictObject({ ...range, shared: bool, ...vcpu }),
  hypercall: z.strictObject({
    nr: u64Schema('nr'),
    args: z.array(u64Schema('arg')).max(3).optional(),
    ...vcpu,
  }),
  pvalidate: z.strictObject({ ...range, validate: bool.optional(), ...vcpu }),
  resume: z.union(
    [
      z.null(),
      z.strictObject({ ret: u64Schema('ret', { allowNegative: true }).optional(), ...vcpu }),
    ],
    { error: 'resume: expected {vcpu, ret} or nothing' },
  ),
} as const satisfies Record<OpName, z.ZodType>;

/** Operations that may be written as a bare string step (`- finalize`): no required field. */
export const FIELDLESS_OPS = ['finalize', 'destroy', 'resume'] as const;

// ---- expectations ----

const exitFields = {
  gpa: gpaSchema.optional(),
  size: sizeSchema.optional(),
  flags: uintSchema('flags').optional(),
  nr: u64Schema('nr').optional(),
  args: z.array(u64Schema('arg')).max(6).optional(),
};

export const expectSchema = z
  .strictObject({
    exit: z
      .union(
        [z.enum(EXIT_REASONS), z.strictObject({ reason: z.enum(EXIT_REASONS), ...exitFields })],
        {
          error: `exit: expected one of ${EXIT_REASONS.join(', ')} (or {reason, gpa, size, flags, nr, args})`,
        },
      )
      .optional(),
    ...exitFields,
    error: z.enum(ERRNO_NAMES).optional(),
    bytes: byteSchema.optional(),
    status: statusName.optional(),
    seamcalls: z.array(leafName).optional(),
    violation: bool.optional(),
  })
  .meta({
    id: 'expect',
    description: 'What this step must do; a failed expectation fails the run.',
  });

const stepExtras = {
  expect: expectSchema.optional(),
  expectOn: z.partialRecord(vmTypeEnum, expectSchema).optional(),
  only: z.array(vmTypeEnum).optional(),
  note: z.string().optional(),
};

function stepSchema(op: OpName): z.ZodType {
  return z.strictObject({ [op]: OP_BODIES[op], ...stepExtras }).meta({ id: `step_${op}` });
}

/** One schema per operation: a step holding that operation. */
export const STEP_SCHEMAS = Object.fromEntries(
  OP_NAMES.map((op) => [op, stepSchema(op)]),
) as Record<OpName, z.ZodType>;

/** What each operation's fields parse to. */
export type OpArgs<K extends OpName> = z.output<(typeof OP_BODIES)[K]>;
export type ExpectInput = z.output<typeof expectSchema>;
export type VmInput = z.output<typeof vmSchema>;

/** The file's top level, steps unchecked (each step is checked by its operation's schema). */
export const topSchema = z.strictObject({
  name: z.string(),
  description: z.string().optional(),
  vm: vmSchema,
  invariants: bool.optional(),
  seed: uintSchema('seed', { limit: 2 ** 32, limitName: '2^32' }).optional(),
  steps: z.array(z.unknown()),
});

/** The whole file, for the JSON Schema. */
export const scenarioFileSchema = topSchema.extend({
  steps: z.array(z.union([z.enum(FIELDLESS_OPS), ...OP_NAMES.map((op) => STEP_SCHEMAS[op])])),
});
