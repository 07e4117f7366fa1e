// Lets tsc accept .vue imports; the components themselves are compiled by Vite.
declare module '*.vue' {
  const component: NonNullable<import('vitepress').Theme['Layout']>;
  export default component;
}

// Vite's import.meta.glob (the site's only use: the examples as raw text, at build time).
interface ImportMeta {
  glob<T = unknown>(
    pattern: string,
    options: { query?: string; import?: string; eager: true },
  ): Record<string, T>;
}
