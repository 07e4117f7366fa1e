// One error, one message: `file:line:col: <what is wrong, what was expected>` (CONTRACTS §1:
// bad input names the problem and, for files, file:line:col). Errors are values here; the CLI
// prints them and exits 2.

/** A 1-based position in a scenario file. */
export interface SourcePos {
  readonly line: number;
  readonly col: number;
}

/** Bad input in a scenario file: where, and what is wrong. */
export interface ScenarioDiagnostic {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** What is wrong and what was expected, without the position. */
  readonly message: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: ScenarioDiagnostic };

export function diagnostic(file: string, pos: SourcePos, message: string): ScenarioDiagnostic {
  return { file, line: pos.line, col: pos.col, message };
}

/** The one-line form printed on stderr. */
export function formatDiagnostic(d: ScenarioDiagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.message}`;
}

/** A JSON path as users read it: `steps[3].write.gpa`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const name = String(part);
      const plain = /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
      if (plain) out += out === '' ? name : `.${name}`;
      else out += `[${JSON.stringify(name)}]`;
    }
  }
  return out;
}
