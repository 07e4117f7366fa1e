/** Resolve workspace packages to their `src/` through the source export condition. */
export const sourceConditions = ['@kvmx/source', 'module', 'node', 'development|production'];
