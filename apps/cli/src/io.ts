// Where a command writes. The CLI's commands never touch process directly, so tests run them
// in-process and capture their output.

import pc from 'picocolors';

export interface Io {
  /** Write one line (a newline is appended) to standard output. */
  out(line: string): void;
  /** Write one line to standard error. */
  err(line: string): void;
  /** Colour allowed: a TTY and NO_COLOR unset (or FORCE_COLOR set). */
  readonly color: boolean;
  /** Standard output is a terminal (progress bars, trees drawn wide). */
  readonly isTTY: boolean;
}

/** The process's own standard streams, honouring NO_COLOR (https://no-color.org). */
export function processIo(): Io {
  // A closed pipe (`kvmx … | head -1`) ends the output, as for any Unix tool: no EPIPE trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const isTTY = process.stdout.isTTY === true;
  const noColor = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';
  const forceColor = process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0';
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    color: !noColor && (forceColor || isTTY),
    isTTY,
  };
}

/** An Io that records lines, for tests. */
export function memoryIo(options: { color?: boolean; isTTY?: boolean } = {}): Io & {
  stdout: string[];
  stderr: string[];
} {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (line) => stdout.push(line),
    err: (line) => stderr.push(line),
    color: options.color ?? false,
    isTTY: options.isTTY ?? false,
  };
}

/** picocolors bound to whether colour is on for this Io. */
export function colors(io: Io): ReturnType<typeof pc.createColors> {
  return pc.createColors(io.color);
}
