// The core packages, lowest layer first. Shared by the examples test (an example of a higher
// package may cover a lower one) and the site config (the order of the "By example" pages).
export const CORE_PACKAGES = [
  'address',
  'paging',
  'tdx-module',
  'vendor-ops',
  'kvm-x86',
  'scenario',
  'explore',
] as const;
export type CorePackage = (typeof CORE_PACKAGES)[number];
