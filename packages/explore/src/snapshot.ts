// Snapshots of a running VM — frames, paging trees, the TDX module's state, attributes,
// memslots, guest_memfd files, vCPUs — as JSON, and back, built over the facade's public
// objects without touching their code.
//
// The VM is an object graph: class instances, Maps, Sets, typed arrays (several views may
// share one ArrayBuffer, as the frame pool's word and byte views do), bigints, and a few
// closures that wire the layers together (the vendor context's callbacks, the MMU's
// KVM_BUG hook). Data is saved as a table of nodes with references, so sharing and cycles
// survive. Closures are code, not state: restoring creates a fresh VM of the same
// configuration (which builds every closure bound to its own objects) and pours the saved
// data into that VM's objects in place, walking both graphs from the root in step. An
// object the fresh VM does not have (a memslot, a TD page table) is created with the class
// found at the same place in a fresh VM, or by its class name among the classes a fresh,
// exercised VM contains. A closure the fresh VM does not have at the same place (a guest
// operation suspended in an exit) cannot be saved: `snapshot` refuses with the path.

import type { StepOp, VmConfig } from '@kvmx/scenario';
import { StepExecutor } from './executor.js';

/** Format marker of a snapshot. */
export const SNAPSHOT_FORMAT = 'kvmx-snapshot/1';

export interface Snapshot {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly config: VmConfig;
  /** Index of the root (the StepExecutor) in `nodes`. */
  readonly root: number;
  readonly nodes: readonly SnapNode[];
}

/** A value inside a node: a primitive, or a reference. */
type SnapValue =
  | null
  | boolean
  | number
  | string
  | { readonly r: number }
  | { readonly big: string }
  | { readonly num: 'NaN' | 'Infinity' | '-Infinity' | '-0' }
  | { readonly undef: true }
  | { readonly fn: true };

type SnapNode =
  | { readonly k: 'o'; readonly c: string; readonly p: Record<string, SnapValue> }
  | { readonly k: 'a'; readonly v: SnapValue[] }
  | { readonly k: 'm'; readonly c: string; readonly e: [SnapValue, SnapValue][] }
  | { readonly k: 's'; readonly v: SnapValue[] }
  | { readonly k: 'b'; readonly n: number; readonly d: string }
  | {
      readonly k: 't';
      readonly c: string;
      readonly b: number;
      readonly o: number;
      readonly n: number;
    };

const TYPED = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

const TYPED_CTORS: Record<string, new (b: ArrayBuffer, o: number, n: number) => TypedArray> = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

function className(o: object): string {
  const proto = Object.getPrototypeOf(o) as { constructor?: { name?: string } } | null;
  if (proto === null) return 'null';
  return proto.constructor?.name ?? 'Object';
}

/** Why a VM cannot be saved now. */
export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';
}

// ---- saving ----------------------------------------------------------------------------------

/** Save an executor's VM. Throws SnapshotError when the VM holds state that is code. */
export function snapshot(ex: StepExecutor, config: VmConfig): Snapshot {
  const template = exercisedExecutor(config);
  const ids = new Map<object, number>();
  const nodes: SnapNode[] = [];
  const enc = (v: unknown, path: string, tmpl: unknown): SnapValue => {
    switch (typeof v) {
      case 'number':
        if (Number.isNaN(v)) return { num: 'NaN' };
        if (v === Infinity) return { num: 'Infinity' };
        if (v === -Infinity) return { num: '-Infinity' };
        if (Object.is(v, -0)) return { num: '-0' };
        return v;
      case 'string':
      case 'boolean':
        return v;
      case 'bigint':
        return { big: v.toString() };
      case 'undefined':
        return { undef: true };
      case 'function':
        if (typeof tmpl !== 'function') {
          throw new SnapshotError(`${path} holds a closure a fresh VM does not have`);
        }
        return { fn: true };
      case 'symbol':
        throw new SnapshotError(`${path} holds a symbol`);
      default:
        break;
    }
    if (v === null) return null;
    const obj = v as object;
    const known = ids.get(obj);
    if (known !== undefined) return { r: known };
    const id = nodes.length;
    ids.set(obj, id);
    nodes.push(null as unknown as SnapNode);
    nodes[id] = encodeObject(obj, path, tmpl);
    return { r: id };
  };
  const encodeObject = (obj: object, path: string, tmpl: unknown): SnapNode => {
    if (obj instanceof ArrayBuffer) return { k: 'b', n: obj.byteLength, d: bufferToBase64(obj) };
    if (ArrayBuffer.isView(obj) && !(obj instanceof DataView)) {
      const t = obj as TypedArray;
      const c = className(t);
      if (!(TYPED as readonly string[]).includes(c)) throw new SnapshotError(`${path}: ${c}`);
      const b = enc(t.buffer, `${path}.buffer`, (tmpl as TypedArray | undefined)?.buffer);
      return { k: 't', c, b: (b as { r: number }).r, o: t.byteOffset, n: t.length };
    }
    if (Array.isArray(obj)) {
      const ta = Array.isArray(tmpl) ? (tmpl as unknown[]) : [];
      return { k: 'a', v: obj.map((x, i) => enc(x, `${path}[${i}]`, ta[i])) };
    }
    if (obj instanceof Map) {
      const tm = tmpl instanceof Map ? tmpl : new Map();
      const e: [SnapValue, SnapValue][] = [];
      for (const [key, val] of obj) {
        e.push([
          enc(key, `${path}.key`, undefined),
          enc(val, `${path}.get(${String(key)})`, tm.get(key)),
        ]);
      }
      return { k: 'm', c: className(obj), e };
    }
    if (obj instanceof Set) {
      return { k: 's', v: [...obj].map((x, i) => enc(x, `${path}{${i}}`, undefined)) };
    }
    const p: Record<string, SnapValue> = {};
    const t = (tmpl !== null && typeof tmpl === 'object' ? tmpl : {}) as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      const d = Object.getOwnPropertyDescriptor(obj, key);
      if (d === undefined || d.get !== undefined || d.set !== undefined) continue;
      p[key] = enc(d.value, `${path}.${key}`, t[key]);
    }
    return { k: 'o', c: className(obj), p };
  };
  const root = enc(ex, 'vm', template);
  return { format: SNAPSHOT_FORMAT, config, root: (root as { r: number }).r, nodes };
}

// ---- restoring -------------------------------------------------------------------------------

/** Restore a saved VM: a new executor whose state equals the saved one. */
export function restore(snap: Snapshot): StepExecutor {
  if (snap.format !== SNAPSHOT_FORMAT) {
    throw new SnapshotError(`not a ${SNAPSHOT_FORMAT} snapshot`);
  }
  const fresh = exercisedExecutor(snap.config);
  const protos = prototypeRegistry(snap.config);
  const live = new Map<number, object>();
  // First pass: decide the live object of every node, pairing saved nodes with the fresh
  // VM's objects at the same place.
  const pair = (id: number, tmpl: unknown): void => {
    if (live.has(id)) return;
    const node = snap.nodes[id];
    if (node === undefined) throw new SnapshotError(`node ${id} is missing`);
    let obj: object;
    switch (node.k) {
      case 'b':
        obj = base64ToBuffer(node.d, node.n);
        live.set(id, obj);
        return;
      case 't': {
        pair(node.b, undefined);
        const buf = live.get(node.b) as ArrayBuffer;
        const C = TYPED_CTORS[node.c];
        if (C === undefined) throw new SnapshotError(`unknown typed array ${node.c}`);
        live.set(id, new C(buf, node.o, node.n));
        return;
      }
      case 'a':
        obj = Array.isArray(tmpl) ? tmpl : [];
        live.set(id, obj);
        node.v.forEach((v, i) => {
          pairValue(v, (obj as unknown[])[i]);
        });
        return;
      case 'm':
        obj = tmpl instanceof Map ? tmpl : new Map();
        live.set(id, obj);
        for (const [k, v] of node.e) {
          pairValue(k, undefined);
          pairValue(v, (obj as Map<unknown, unknown>).get(decodePrimitive(k)));
        }
        return;
      case 's':
        obj = tmpl instanceof Set ? tmpl : new Set();
        live.set(id, obj);
        for (const v of node.v) pairValue(v, undefined);
        return;
      case 'o': {
        const sameClass = tmpl !== null && typeof tmpl === 'object' && className(tmpl) === node.c;
        if (sameClass) obj = tmpl as object;
        else {
          const proto = protos.get(node.c);
          if (proto === undefined)
            throw new SnapshotError(`cannot restore an object of class ${node.c}`);
          obj = Object.create(proto) as object;
        }
        live.set(id, obj);
        const t = obj as Record<string, unknown>;
        for (const [key, v] of Object.entries(node.p)) pairValue(v, sameClass ? t[key] : undefined);
        return;
      }
    }
  };
  const pairValue = (v: SnapValue, tmpl: unknown): void => {
    if (v !== null && typeof v === 'object' && 'r' in v) pair(v.r, tmpl);
  };
  pair(snap.root, fresh);
  // Second pass: pour the saved data into the live objects.
  const value = (v: SnapValue, current: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if ('r' in v) return live.get(v.r);
    if ('big' in v) return BigInt(v.big);
    if ('undef' in v) return undefined;
    if ('fn' in v) return current;
    return v.num === '-0' ? -0 : Number(v.num);
  };
  for (const [id, obj] of live) {
    const node = snap.nodes[id] as SnapNode;
    switch (node.k) {
      case 'a': {
        const arr = obj as unknown[];
        const next = node.v.map((v, i) => value(v, arr[i]));
        arr.length = 0;
        arr.push(...next);
        break;
      }
      case 'm': {
        const m = obj as Map<unknown, unknown>;
        const next = node.e.map(([k, v]) => {
          const key = value(k, undefined);
          return [key, value(v, m.get(key))] as const;
        });
        m.clear();
        for (const [k, v] of next) m.set(k, v);
        break;
      }
      case 's': {
        const s = obj as Set<unknown>;
        s.clear();
        for (const v of node.v) s.add(value(v, undefined));
        break;
      }
      case 'o': {
        const o = obj as Record<string, unknown>;
        for (const key of Object.keys(o)) {
          if (!(key in node.p)) {
            const d = Object.getOwnPropertyDescriptor(o, key);
            if (d !== undefined && d.get === undefined && d.set === undefined) delete o[key];
          }
        }
        for (const [key, v] of Object.entries(node.p)) {
          Object.defineProperty(o, key, {
            value: value(v, o[key]),
            writable: true,
            enumerable: true,
            configurable: true,
          });
        }
        break;
      }
      default:
        break;
    }
  }
  return live.get(snap.root) as StepExecutor;
}

function decodePrimitive(v: SnapValue): unknown {
  if (v === null || typeof v !== 'object') return v;
  if ('big' in v) return BigInt(v.big);
  return undefined;
}

function freshExecutor(config: VmConfig): StepExecutor {
  const ex = StepExecutor.create(config);
  if (typeof ex === 'string') throw new SnapshotError(ex);
  return ex;
}

/**
 * A fresh VM of the configuration, exercised so that everything a VM creates lazily exists
 * (a memslot and guest_memfd, the roots and their trees, for a TD the finalized TD with a
 * mapped page): the closures the layers install on such objects then exist at the same
 * places as in any saved VM.
 */
function exercisedExecutor(config: VmConfig): StepExecutor {
  const ex = freshExecutor(config);
  const priv = config.type !== 'default';
  const ops: StepOp[] = [
    {
      op: 'memslot',
      args: {
        slot: 1,
        gpa: 0,
        size: 0x200000,
        guestMemfd: priv ? { offset: 0 } : null,
        readonly: false,
        logDirty: false,
      },
    },
    ...(priv
      ? [{ op: 'setAttributes', args: { gpa: 0, size: 0x1000, private: true } } as StepOp]
      : []),
    ...(config.type === 'tdx' ? [{ op: 'finalize', args: {} } as StepOp] : []),
    { op: 'write', args: { gpa: 0, size: 8, byte: 1, vcpu: 0, private: priv } },
    { op: 'write', args: { gpa: 0x1000, size: 8, byte: 1, vcpu: 0, private: false } },
  ];
  for (const op of ops) if (ex.canRun(op)) ex.execute(op);
  return ex;
}

/** Prototypes by class name, from an exercised VM of the type. */
const REGISTRIES = new Map<string, Map<string, object>>();
function prototypeRegistry(config: VmConfig): Map<string, object> {
  const cached = REGISTRIES.get(config.type);
  if (cached !== undefined) return cached;
  const reg = new Map<string, object>();
  const ex = exercisedExecutor(config);
  const seen = new Set<object>();
  const visit = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return;
    const proto = Object.getPrototypeOf(v) as object | null;
    if (proto !== null && !Array.isArray(v)) reg.set(className(v), proto);
    if (v instanceof Map) {
      for (const [k, x] of v) {
        visit(k);
        visit(x);
      }
      return;
    }
    if (v instanceof Set) {
      for (const x of v) visit(x);
      return;
    }
    for (const key of Object.keys(v)) {
      const d = Object.getOwnPropertyDescriptor(v, key);
      if (d !== undefined && d.get === undefined) visit(d.value);
    }
  };
  visit(ex);
  REGISTRIES.set(config.type, reg);
  return reg;
}

// ---- base64 of buffers, trailing zeros dropped ---------------------------------------------

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function bufferToBase64(buf: ArrayBuffer): string {
  const bytes = new Uint8Array(buf);
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  let out = '';
  for (let i = 0; i < end; i += 3) {
    const a = bytes[i] ?? 0;
    const b = bytes[i + 1] ?? 0;
    const c = bytes[i + 2] ?? 0;
    const n = (a << 16) | (b << 8) | c;
    out += B64[(n >> 18) & 63];
    out += B64[(n >> 12) & 63];
    out += i + 1 < end ? B64[(n >> 6) & 63] : '=';
    out += i + 2 < end ? B64[n & 63] : '=';
  }
  return out;
}

function base64ToBuffer(s: string, size: number): ArrayBuffer {
  const buf = new ArrayBuffer(size);
  const bytes = new Uint8Array(buf);
  let j = 0;
  for (let i = 0; i < s.length; i += 4) {
    const n =
      (B64.indexOf(s[i] ?? 'A') << 18) |
      (B64.indexOf(s[i + 1] ?? 'A') << 12) |
      ((s[i + 2] === '=' ? 0 : B64.indexOf(s[i + 2] ?? 'A')) << 6) |
      (s[i + 3] === '=' ? 0 : B64.indexOf(s[i + 3] ?? 'A'));
    if (j < size) bytes[j++] = (n >> 16) & 255;
    if (s[i + 2] !== '=' && j < size) bytes[j++] = (n >> 8) & 255;
    if (s[i + 3] !== '=' && j < size) bytes[j++] = n & 255;
  }
  return buf;
}

/** A snapshot as JSON text. */
export function snapshotToJson(snap: Snapshot): string {
  return JSON.stringify(snap);
}

/** A snapshot from JSON text (as written by snapshotToJson). */
export function snapshotFromJson(text: string): Snapshot {
  const v = JSON.parse(text) as Snapshot;
  if (v === null || typeof v !== 'object' || v.format !== SNAPSHOT_FORMAT) {
    throw new SnapshotError(`not a ${SNAPSHOT_FORMAT} snapshot`);
  }
  return v;
}
