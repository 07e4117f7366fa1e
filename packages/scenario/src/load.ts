// Loading a scenario file's text into plain values while keeping, for every value, where it
// was written. YAML and JSON both go through the `yaml` package's Document API (JSON is YAML
// 1.2 flow style), so both get line:col positions. Integers are read as bigints
// (`intAsBigInt`) so that a 64-bit hex value is never silently rounded (toolchain.md §2);
// an integer beyond 2^53 is handed on as its source text, which the number schemas parse
// exactly (and refuse when out of range).
//
// Hostile input must end in one message, never a crash or a hang: the text is pre-scanned
// (size, binary bytes, nesting) before the YAML parser sees it, because the parser itself
// recurses on nesting; aliases are expanded under a budget (billion-laughs), cycles refused.

import { type Alias, isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { diagnostic, type Result, type SourcePos } from './diagnostic.js';

/** Largest scenario file accepted, in UTF-16 code units (scenario files are small). */
export const MAX_SCENARIO_TEXT = 1 << 20;
/** Deepest nesting of mappings and sequences accepted. */
export const MAX_NESTING = 64;
/** Most values a file may expand to, counting each alias expansion in full. */
export const MAX_VALUES = 50_000;

/** Where each value came from, keyed by its JSON path. */
export interface SourceMap {
  /** Position of the value at `path`, or of its nearest written ancestor. */
  locate(path: readonly PropertyKey[]): SourcePos;
  /** Position of the key `key` in the mapping at `path` (for unknown keys). */
  locateKey(path: readonly PropertyKey[], key: string): SourcePos;
}

export interface Loaded {
  readonly value: unknown;
  readonly map: SourceMap;
}

const TOP: SourcePos = { line: 1, col: 1 };

class LoadError {
  constructor(
    readonly offset: number,
    readonly message: string,
  ) {}
}

/** Parse YAML or JSON text. `file` names it in messages. */
export function loadScenarioText(text: string, file: string): Result<Loaded> {
  const lines = new LineCounter();
  let src = text;
  if (src.charCodeAt(0) === 0xfeff) src = src.slice(1);
  const pre = prescan(src);
  if (pre !== undefined) {
    return { ok: false, error: diagnostic(file, posOf(src, pre.offset), pre.message) };
  }
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(src, {
      lineCounter: lines,
      intAsBigInt: true,
      prettyErrors: false,
      uniqueKeys: true,
      strict: true,
      schema: 'core',
    });
  } catch (e) {
    // The prescan bounds what the parser sees; this is the last line of defence.
    const why = e instanceof Error ? e.message : String(e);
    return { ok: false, error: diagnostic(file, TOP, `cannot parse the file as YAML: ${why}`) };
  }
  const first = doc.errors[0] ?? doc.warnings[0];
  if (first !== undefined) {
    const pos = lines.linePos(first.pos[0]);
    return {
      ok: false,
      error: diagnostic(file, pos, `bad YAML: ${yamlMessage(first.message, first.code)}`),
    };
  }
  const spots = new Map<string, number>();
  const keySpots = new Map<string, number>();
  const walker = new Walker(doc, spots, keySpots);
  let value: unknown;
  try {
    value = walker.value(doc.contents, '', 0);
  } catch (e) {
    if (e instanceof LoadError) {
      return { ok: false, error: diagnostic(file, lines.linePos(e.offset), e.message) };
    }
    if (e instanceof RangeError) {
      return {
        ok: false,
        error: diagnostic(file, TOP, 'the file nests too deeply to be a scenario'),
      };
    }
    throw e;
  }
  const map: SourceMap = {
    locate(path) {
      for (let n = path.length; n >= 0; n--) {
        const off = spots.get(pathKey(path.slice(0, n)));
        if (off !== undefined) return lines.linePos(off);
      }
      return TOP;
    },
    locateKey(path, key) {
      const off = keySpots.get(pathKey([...path, key]));
      return off !== undefined ? lines.linePos(off) : map.locate(path);
    },
  };
  return { ok: true, value: { value, map } };
}

/** A map key for a path; built incrementally by the walker (see `childKey`). */
function pathKey(path: readonly PropertyKey[]): string {
  let key = '';
  for (const p of path) key = childKey(key, p);
  return key;
}

function childKey(parent: string, segment: PropertyKey): string {
  return `${parent}\u0000${typeof segment === 'number' ? `#${segment}` : String(segment)}`;
}

function yamlMessage(message: string, code: string): string {
  const line = message.split('\n')[0] ?? message;
  return code === 'DUPLICATE_KEY' ? `${line} (a key appears twice in one mapping)` : line;
}

class Walker {
  private count = 0;
  private readonly active = new Set<unknown>();
  private readonly resolved = new Map<object, ReturnType<Alias['resolve']>>();

  constructor(
    private readonly doc: ReturnType<typeof parseDocument>,
    private readonly spots: Map<string, number>,
    private readonly keySpots: Map<string, number>,
  ) {}

  value(node: unknown, key: string, depth: number): unknown {
    if (++this.count > MAX_VALUES) {
      throw new LoadError(
        offsetOf(node),
        `the file expands to more than ${MAX_VALUES} values (an alias bomb?); a scenario is far smaller`,
      );
    }
    if (node === null || node === undefined) return null;
    if (depth > MAX_NESTING) {
      throw new LoadError(offsetOf(node), `nesting deeper than ${MAX_NESTING} levels`);
    }
    const start = offsetOf(node);
    this.spots.set(key, start);
    if (isAlias(node)) {
      // yaml's Alias#resolve searches the document on every call; an alias bomb expands the
      // same few aliases tens of thousands of times, so each is resolved once.
      let target = this.resolved.get(node);
      if (target === undefined) {
        target = node.resolve(this.doc);
        this.resolved.set(node, target);
      }
      if (target === undefined) {
        throw new LoadError(start, `alias *${node.source} names no anchor defined before it`);
      }
      if (this.active.has(target)) {
        throw new LoadError(start, `alias *${node.source} refers to a node that contains it`);
      }
      const v = this.value(target, key, depth);
      this.spots.set(key, start);
      return v;
    }
    const tag = (node as { tag?: string }).tag;
    if (tag !== undefined && tag !== 'tag:yaml.org,2002:str') {
      throw new LoadError(start, `YAML tags are not supported (${tag}); write a plain value`);
    }
    if (isScalar(node)) return scalarValue(node.value, node.source);
    if (isMap(node)) {
      this.active.add(node);
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        const keyNode = pair.key;
        if (!isScalar(keyNode) || typeof keyNode.value !== 'string') {
          throw new LoadError(
            keyNode === null ? start : offsetOf(keyNode),
            'a mapping key must be a plain string',
          );
        }
        const name = keyNode.value;
        const child = childKey(key, name);
        this.keySpots.set(child, offsetOf(keyNode));
        const valueNode = pair.value;
        if (valueNode === null || valueNode === undefined) {
          // `finalize:` — a key with no value; point at the key.
          this.spots.set(child, offsetOf(keyNode));
        }
        Object.defineProperty(out, name, {
          value: this.value(valueNode, child, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      this.active.delete(node);
      return out;
    }
    if (isSeq(node)) {
      this.active.add(node);
      const out: unknown[] = [];
      node.items.forEach((item, i) => {
        out.push(this.value(item, childKey(key, i), depth + 1));
      });
      this.active.delete(node);
      return out;
    }
    throw new LoadError(start, 'unsupported YAML node');
  }
}

function offsetOf(node: unknown): number {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range?.[0] ?? 0;
}

/** Integers become numbers when exact, their source text otherwise (parsed exactly later). */
function scalarValue(value: unknown, source: unknown): unknown {
  if (typeof value === 'bigint') {
    if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) {
      return Number(value);
    }
    return typeof source === 'string' ? source : `0x${value.toString(16)}`;
  }
  return value;
}

interface PrescanError {
  offset: number;
  message: string;
}

/**
 * Refuse, before parsing, what a scenario file never is: too large, binary, or nested so
 * deeply that a recursive parser would exhaust the stack.
 */
function prescan(text: string): PrescanError | undefined {
  if (text.length > MAX_SCENARIO_TEXT) {
    return {
      offset: 0,
      message: `the file is ${text.length} characters long; a scenario file is at most ${MAX_SCENARIO_TEXT}`,
    };
  }
  let flow = 0;
  let quote: '' | "'" | '"' = '';
  let lineStart = true;
  let indent = 0;
  let dashes = 0;
  let prev = '\n';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (
      (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) ||
      c === 0x7f ||
      c === 0xfffd ||
      c === 0xfffe ||
      c === 0xffff
    ) {
      return {
        offset: i,
        message: `binary data (character U+${c.toString(16).padStart(4, '0')}): a scenario file is YAML or JSON text`,
      };
    }
    const ch = text[i] as string;
    if (ch === '\n') {
      lineStart = true;
      indent = 0;
      dashes = 0;
      // A quoted scalar may span lines: the quote stays open.
      prev = ch;
      continue;
    }
    if (quote !== '') {
      if (quote === '"' && ch === '\\') i++;
      else if (ch === quote) {
        if (quote === "'" && text[i + 1] === "'") i++;
        else quote = '';
      }
      prev = ch;
      continue;
    }
    if (lineStart) {
      if (ch === ' ') {
        indent++;
        if (indent > 256) return { offset: i, message: 'indentation deeper than 256 columns' };
        continue;
      }
      if ((ch === '-' || ch === '?') && (text[i + 1] === ' ' || text[i + 1] === '\t')) {
        dashes++;
        if (dashes > MAX_NESTING) {
          return { offset: i, message: `nesting deeper than ${MAX_NESTING} levels` };
        }
        i++;
        continue;
      }
      lineStart = false;
    }
    if (ch === '#' && (prev === ' ' || prev === '\t' || prev === '\n')) {
      const nl = text.indexOf('\n', i);
      if (nl < 0) break;
      i = nl - 1;
      continue;
    }
    if (ch === '"' || ch === "'") {
      // A quote opens a quoted scalar only where a scalar can start; inside a plain
      // scalar (don't) it is an ordinary character.
      if (/[\s[{,:-]/.test(prev) || prev === '\n') quote = ch;
    } else if (ch === '[' || ch === '{') {
      flow++;
      if (flow > MAX_NESTING) {
        return { offset: i, message: `nesting deeper than ${MAX_NESTING} levels` };
      }
    } else if ((ch === ']' || ch === '}') && flow > 0) flow--;
    prev = ch;
  }
  return undefined;
}

/** Line and column of an offset, for messages raised before the parser runs. */
function posOf(text: string, offset: number): SourcePos {
  let line = 1;
  let col = 1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      col = 1;
    } else col++;
  }
  return { line, col };
}
