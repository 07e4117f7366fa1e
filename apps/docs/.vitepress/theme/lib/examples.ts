// The scenario files of examples/ at the repository root, read at build time (Vite's
// import.meta.glob with ?raw), named as `kvmx run` from the repository root names them.

const RAW = import.meta.glob<string>('../../../../../examples/*.{yaml,yml,json}', {
  query: '?raw',
  import: 'default',
  eager: true,
});

export interface Example {
  /** `examples/td-life.yaml` */
  readonly file: string;
  /** `td-life.yaml` */
  readonly base: string;
  /** The file's `name:` line, for the button's title. */
  readonly name: string;
  readonly text: string;
}

export const EXAMPLES: readonly Example[] = Object.entries(RAW)
  .map(([path, text]) => {
    const base = path.slice(path.lastIndexOf('/') + 1);
    const name = /^name:\s*(.+)$/m.exec(text)?.[1]?.replace(/^['"]|['"]$/g, '') ?? base;
    return { file: `examples/${base}`, base, name, text };
  })
  .sort((a, b) => a.base.localeCompare(b.base));

/** The example the playground opens with. */
export const DEFAULT_EXAMPLE = 'td-life.yaml';

export function exampleByBase(base: string): Example | undefined {
  return EXAMPLES.find((e) => e.base === base);
}
