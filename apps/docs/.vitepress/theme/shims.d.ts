// Lets tsc accept .vue imports; the components themselves are compiled by Vite.
declare module '*.vue' {
  const component: NonNullable<import('vitepress').Theme['Layout']>;
  export default component;
}
