// Scenario text -> Scenario, or one diagnostic (file:line:col: message).

import type { VmTypeName } from '@kvmx/address';
import { diagnostic, formatPath, type Result } from './diagnostic.js';
import { closest, describeValue, issueDiagnostic } from './issues.js';
import { loadScenarioText, type SourceMap } from './load.js';
import type {
  CheckArgs,
  ExitExpect,
  Expect,
  GuestMemfdBinding,
  OpArgsMap,
  Scenario,
  Step,
  StepOp,
  VmConfig,
} from './scenario.js';
import {
  type ExpectInput,
  FIELDLESS_OPS,
  isOpName,
  OP_NAMES,
  type OpArgs,
  type OpName,
  STEP_KEYS,
  STEP_SCHEMAS,
  topSchema,
  type VmInput,
} from './schema.js';

/** Parse a scenario file (YAML or JSON). `file` names it in messages. */
export function parseScenario(text: string, file: string): Result<Scenario> {
  const loaded = loadScenarioText(text, file);
  if (!loaded.ok) return loaded;
  const { value, map } = loaded.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      ok: false,
      error: diagnostic(
        file,
        map.locate([]),
        `expected a mapping with name, vm and steps at the top level, got ${describeValue(value)}`,
      ),
    };
  }
  const top = topSchema.safeParse(value, { reportInput: true });
  if (!top.success) {
    return { ok: false, error: issueDiagnostic(file, top.error.issues, map, [], topSchema) };
  }
  const steps: Step[] = [];
  for (let i = 0; i < top.data.steps.length; i++) {
    const r = parseStep(top.data.steps[i], i, file, map);
    if (!r.ok) return r;
    steps.push(r.value);
  }
  const d = top.data;
  const vmInvariants = d.vm.invariants;
  if (vmInvariants !== undefined && d.invariants !== undefined && vmInvariants !== d.invariants) {
    return {
      ok: false,
      error: diagnostic(
        file,
        map.locate(['vm', 'invariants']),
        'vm.invariants contradicts the top-level invariants; write it once',
      ),
    };
  }
  return {
    ok: true,
    value: {
      file,
      name: d.name,
      ...(d.description !== undefined ? { description: d.description } : {}),
      vm: vmConfig(d.vm),
      vmPos: map.locate(['vm', 'type']),
      invariants: d.invariants ?? vmInvariants ?? true,
      ...(d.seed !== undefined ? { seed: d.seed } : {}),
      steps,
    },
  };
}

function vmConfig(vm: VmInput): VmConfig {
  return {
    type: vm.type,
    vcpus: vm.vcpus ?? 1,
    gpaw: vm.gpaw ?? 48,
    cbit: vm.cbit ?? 51,
    exitHypercall: vm.exitHypercall ?? true,
    autoConvert: vm.autoConvert ?? false,
    autoAccept: vm.autoAccept ?? false,
    septVeDisable: vm.septVeDisable ?? false,
    ...(vm.inject !== undefined ? { inject: vm.inject } : {}),
  };
}

function parseStep(raw: unknown, index: number, file: string, map: SourceMap): Result<Step> {
  const path = ['steps', index];
  const pos = map.locate(path);
  const fail = (p: { line: number; col: number }, message: string): Result<Step> => ({
    ok: false,
    error: diagnostic(file, p, `${formatPath(path)}: ${message}`),
  });
  if (typeof raw === 'string') {
    if ((FIELDLESS_OPS as readonly string[]).includes(raw) && isOpName(raw)) {
      return { ok: true, value: makeStep(raw, normalizeArgs(raw, null), index, pos, {}) };
    }
    if (isOpName(raw)) {
      return fail(pos, `operation '${raw}' needs fields; write it as a mapping (${raw}: {...})`);
    }
    return fail(
      pos,
      `unknown operation '${raw}'${closest(raw, OP_NAMES) === undefined ? '' : ` (did you mean '${closest(raw, OP_NAMES)}'?)`}; expected a mapping with one of: ${OP_NAMES.join(', ')}`,
    );
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return fail(
      pos,
      `expected a step: a mapping with one operation (${OP_NAMES.join(', ')}), got ${describeValue(raw)}`,
    );
  }
  const keys = Object.keys(raw);
  const ops = keys.filter(isOpName);
  const unknown = keys.filter((k) => !isOpName(k) && !(STEP_KEYS as readonly string[]).includes(k));
  const firstUnknown = unknown[0];
  if (firstUnknown !== undefined) {
    const near = closest(firstUnknown, [...OP_NAMES, ...STEP_KEYS]);
    const what = `${ops.length === 0 ? 'unknown operation' : 'unknown key'} '${firstUnknown}'${near === undefined ? '' : ` (did you mean '${near}'?)`}`;
    const expected =
      ops.length === 0
        ? `expected one of: ${OP_NAMES.join(', ')}`
        : `expected only the operation and ${STEP_KEYS.join(', ')}`;
    return fail(map.locateKey(path, firstUnknown), `${what}; ${expected}`);
  }
  const op = ops[0];
  if (op === undefined) {
    return fail(pos, `a step needs one operation; expected one of: ${OP_NAMES.join(', ')}`);
  }
  const second = ops[1];
  if (second !== undefined) {
    return fail(
      map.locateKey(path, second),
      `a step holds exactly one operation, but this one has '${op}' and '${second}'; split it into two steps`,
    );
  }
  const schema = STEP_SCHEMAS[op];
  const parsed = schema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    return { ok: false, error: issueDiagnostic(file, parsed.error.issues, map, path, schema) };
  }
  const data = parsed.data as Record<string, unknown> & {
    expect?: ExpectInput;
    expectOn?: Partial<Record<VmTypeName, ExpectInput>>;
    only?: VmTypeName[];
    note?: string;
  };
  const expectOn: Partial<Record<VmTypeName, Expect>> = {};
  for (const [type, e] of Object.entries(data.expectOn ?? {})) {
    if (e !== undefined) {
      const r = normalizeExpect(e, file, map, [...path, 'expectOn', type]);
      if (!r.ok) return r;
      expectOn[type as VmTypeName] = r.value;
    }
  }
  let expect: Expect | undefined;
  if (data.expect !== undefined) {
    const r = normalizeExpect(data.expect, file, map, [...path, 'expect']);
    if (!r.ok) return r;
    expect = r.value;
  }
  const args = normalizeArgs(op, data[op]);
  return {
    ok: true,
    value: makeStep(op, args, index, pos, expectOn, expect, data.only, data.note),
  };
}

function makeStep(
  op: OpName,
  args: unknown,
  index: number,
  pos: { line: number; col: number },
  expectOn: Partial<Record<VmTypeName, Expect>>,
  expect?: Expect,
  only?: VmTypeName[],
  note?: string,
): Step {
  const base = { op, args } as StepOp;
  return {
    ...base,
    index,
    pos,
    expectOn,
    ...(expect !== undefined ? { expect } : {}),
    ...(only !== undefined ? { only } : {}),
    ...(note !== undefined ? { note } : {}),
  } as Step;
}

function normalizeExpect(
  e: ExpectInput,
  file: string,
  map: SourceMap,
  path: PropertyKey[],
): Result<Expect> {
  const fields = {
    ...(e.gpa !== undefined ? { gpa: e.gpa } : {}),
    ...(e.size !== undefined ? { size: e.size } : {}),
    ...(e.flags !== undefined ? { flags: e.flags } : {}),
    ...(e.nr !== undefined ? { nr: e.nr } : {}),
    ...(e.args !== undefined ? { args: e.args } : {}),
  };
  let exit: ExitExpect | undefined;
  if (typeof e.exit === 'string') exit = { reason: e.exit, ...fields };
  else if (e.exit !== undefined) {
    if (Object.keys(fields).length > 0) {
      return {
        ok: false,
        error: diagnostic(
          file,
          map.locate([...path, 'exit']),
          `${formatPath(path)}: exit fields are written either inside exit or beside it, not both`,
        ),
      };
    }
    const { reason, ...rest } = e.exit;
    exit = { reason, ...stripUndefined(rest) } as ExitExpect;
  } else if (Object.keys(fields).length > 0) {
    const first = Object.keys(fields)[0] as string;
    return {
      ok: false,
      error: diagnostic(
        file,
        map.locateKey(path, first),
        `${formatPath(path)}: '${first}' is a field of an exit; add exit: <reason> beside it`,
      ),
    };
  }
  if (exit !== undefined && exit.reason === 'none' && Object.keys(exit).length > 1) {
    return {
      ok: false,
      error: diagnostic(
        file,
        map.locate([...path, 'exit']),
        `${formatPath(path)}: exit: none has no fields`,
      ),
    };
  }
  return {
    ok: true,
    value: {
      ...(exit !== undefined ? { exit } : {}),
      ...(e.error !== undefined ? { error: e.error } : {}),
      ...(e.bytes !== undefined ? { bytes: e.bytes } : {}),
      ...(e.status !== undefined ? { status: e.status } : {}),
      ...(e.seamcalls !== undefined ? { seamcalls: e.seamcalls } : {}),
      ...(e.violation !== undefined ? { violation: e.violation } : {}),
    },
  };
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Defaults applied; every operation's arguments in one shape. */
function normalizeArgs(op: OpName, raw: unknown): unknown {
  const a = (raw ?? {}) as Record<string, unknown>;
  switch (op) {
    case 'memslot': {
      const m = a as OpArgs<'memslot'>;
      let guestMemfd: GuestMemfdBinding | null = null;
      if (m.guestMemfd === true) guestMemfd = { offset: 0 };
      else if (typeof m.guestMemfd === 'object') {
        guestMemfd = {
          offset: m.guestMemfd.offset ?? 0,
          ...(m.guestMemfd.id !== undefined ? { id: m.guestMemfd.id } : {}),
          ...(m.guestMemfd.size !== undefined ? { size: m.guestMemfd.size } : {}),
        };
      }
      const flags = m.flags ?? [];
      return {
        slot: m.slot,
        gpa: m.gpa,
        size: m.size,
        guestMemfd,
        readonly: flags.includes('readonly'),
        logDirty: flags.includes('log_dirty'),
        ...(m.hostHugePages === true ? { hostHugePages: true } : {}),
      } satisfies OpArgsMap['memslot'];
    }
    case 'initMemRegion':
      return { ...a, measure: (a as OpArgs<'initMemRegion'>).measure ?? true };
    case 'finalize':
    case 'destroy':
      return {};
    case 'check': {
      if ('mrtd' in a) return { kind: 'mrtd', mrtd: String(a.mrtd).toLowerCase() } as CheckArgs;
      if ('invariants' in a) return { kind: 'invariants' } as CheckArgs;
      const mc = a as {
        gpa: number;
        root: 'direct' | 'mirror' | 'sept' | 'rmp';
        mapped?: boolean;
        level?: number;
        state?: string;
      };
      return {
        kind: 'mapping',
        gpa: mc.gpa,
        root: mc.root,
        mapped: mc.mapped ?? true,
        ...(mc.level !== undefined ? { level: mc.level } : {}),
        ...(mc.state !== undefined ? { state: mc.state } : {}),
      } as CheckArgs;
    }
    case 'write':
    case 'read':
    case 'mapGpa':
    case 'preFault':
      return { ...stripUndefined(a), vcpu: (a.vcpu as number | undefined) ?? 0 };
    case 'accept': {
      const level = (a.level as number | undefined) ?? 1;
      const size = (a.size as number | undefined) ?? 2 ** (12 + 9 * (level - 1));
      return { gpa: a.gpa, size, level, vcpu: (a.vcpu as number | undefined) ?? 0 };
    }
    case 'pvalidate':
      return {
        ...stripUndefined(a),
        validate: (a.validate as boolean | undefined) ?? true,
        vcpu: (a.vcpu as number | undefined) ?? 0,
      };
    case 'resume':
      return { ...stripUndefined(a), vcpu: (a.vcpu as number | undefined) ?? 0 };
    case 'hypercall':
      return { nr: a.nr, args: a.args ?? [], vcpu: (a.vcpu as number | undefined) ?? 0 };
    default:
      return stripUndefined(a);
  }
}
