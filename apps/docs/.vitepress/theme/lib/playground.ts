// What the scenario playground shows, as pure functions over @kvmx/scenario: a run's events
// (as the human trace, grouped by step, and as the JSON Lines `kvmx run --json` prints), its
// summary or its `file:line:col` error, and the page tables after any step.

import type { Kvm } from '@kvmx/kvm-x86';
import {
  formatDiagnostic,
  formatEvent,
  formatSummary,
  prepareScenario,
  type RunEvent,
  type RunPlan,
  runPlan,
  runScenarios,
  type ScenarioDiagnostic,
  type SummaryEvent,
} from '@kvmx/scenario';
import { type RunTables, tablesOf } from './tables.ts';

/** One block of the trace: what happened before the first step, or one step and its events. */
export interface TraceBlock {
  /** The step's index in the file, or -1 for VM creation (before the first step). */
  readonly step: number;
  /** The step's line in the file (0 for VM creation). */
  readonly line: number;
  readonly op: string;
  /** Trace lines with the event type that produced each (for colouring). */
  readonly lines: readonly {
    readonly type: string;
    readonly text: string;
    readonly ok?: boolean;
  }[];
  /** Some expectation of this step failed. */
  readonly failed: boolean;
  readonly skipped: boolean;
}

export interface PlaygroundRun {
  readonly exitCode: 0 | 1 | 2;
  readonly events: readonly (RunEvent | SummaryEvent)[];
  /** One JSON object per line, exactly as `kvmx run --json` prints them. */
  readonly jsonLines: string;
  readonly blocks: readonly TraceBlock[];
  readonly summary?: SummaryEvent;
  /** The summary as the CLI's last line (`PASS: 30 steps, …`). */
  readonly summaryText?: string;
  readonly error?: ScenarioDiagnostic;
  /** `file:line:col: message`, as the CLI prints it after `kvmx: `. */
  readonly errorText?: string;
  /** The page tables at the end of the run (before a `destroy` step tears them down). */
  readonly tables?: RunTables;
}

/** Run one scenario text as `kvmx run --json <file>` would. Never throws for bad input. */
export function runPlayground(file: string, text: string): PlaygroundRun {
  const events: (RunEvent | SummaryEvent)[] = [];
  let tables: RunTables | undefined;
  const result = runScenarios([{ file, text }], {
    onEvent: (e) => events.push(e),
    capture: (_file: string, kvm: Kvm) => {
      tables = tablesOf(kvm);
    },
  });
  const blocks = traceBlocks(events);
  return {
    exitCode: result.exitCode,
    events,
    jsonLines: events.map((e) => JSON.stringify(e)).join('\n'),
    blocks,
    ...(result.summary !== undefined
      ? { summary: result.summary, summaryText: formatSummary(result.summary) }
      : {}),
    ...(result.error !== undefined
      ? { error: result.error, errorText: formatDiagnostic(result.error) }
      : {}),
    ...(tables !== undefined ? { tables } : {}),
  };
}

/** Group the events by step and format them as the CLI's human trace does. */
export function traceBlocks(events: readonly (RunEvent | SummaryEvent)[]): TraceBlock[] {
  interface Block {
    step: number;
    line: number;
    op: string;
    lines: { type: string; text: string; ok?: boolean }[];
    failed: boolean;
    skipped: boolean;
  }
  const blocks: Block[] = [];
  let current: Block = {
    step: -1,
    line: 0,
    op: 'create VM',
    lines: [],
    failed: false,
    skipped: false,
  };
  blocks.push(current);
  for (const e of events) {
    if (e.type === 'summary') continue;
    if (e.type === 'step') {
      current = {
        step: e.index,
        line: e.line,
        op: e.op,
        lines: [],
        failed: false,
        skipped: e.skipped !== undefined,
      };
      blocks.push(current);
    }
    const ok = e.type === 'expect' ? e.ok : undefined;
    if (ok === false) current.failed = true;
    for (const text of formatEvent(e)) {
      current.lines.push({ type: e.type, text, ...(ok !== undefined ? { ok } : {}) });
    }
  }
  return blocks;
}

/**
 * The page tables after step `index` of the file (-1: right after the VM was created).
 * Runs the same plan cut after that step: the model is deterministic, so this is the state
 * the full run had at that moment. A `destroy` step is shown as the tables just before it.
 */
export function tablesAfterStep(file: string, text: string, index: number): RunTables | null {
  const p = prepareScenario({ file, text });
  if (!p.ok) return null;
  const plan: RunPlan = { ...p.plan, steps: p.plan.steps.slice(0, index + 1) };
  let tables: RunTables | null = null;
  runPlan(plan, {
    capture: (kvm: Kvm) => {
      tables = tablesOf(kvm);
    },
  });
  return tables;
}

// Deep links: the scenario in the URL hash. `#z=` is deflate-raw + base64url (CompressionStream,
// in every current browser); `#b=` is plain base64url of the UTF-8 text, accepted too.

function toBase64Url(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function pipe(bytes: Uint8Array, stream: GenericTransformStream): Promise<Uint8Array> {
  const piped = new Blob([bytes.slice().buffer as ArrayBuffer]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(piped).arrayBuffer());
}

/** The hash (`#z=…`, or `#b=…` where CompressionStream is missing) that encodes `text`. */
export async function encodeHash(text: string): Promise<string> {
  const utf8 = new TextEncoder().encode(text);
  if (typeof CompressionStream === 'function') {
    return `#z=${toBase64Url(await pipe(utf8, new CompressionStream('deflate-raw')))}`;
  }
  return `#b=${toBase64Url(utf8)}`;
}

/** The scenario text in a hash made by `encodeHash`, or null when the hash holds none. */
export async function decodeHash(hash: string): Promise<string | null> {
  const m = /^#?([zb])=([A-Za-z0-9_-]*)$/.exec(hash);
  if (m === null) return null;
  try {
    const bytes = fromBase64Url(m[2] ?? '');
    const raw = m[1] === 'z' ? await pipe(bytes, new DecompressionStream('deflate-raw')) : bytes;
    return new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    return null;
  }
}
