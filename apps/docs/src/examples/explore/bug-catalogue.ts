// The injectable KVM bugs (`kvmx explore --inject NAME`, `--list-injections`): realistic
// mistakes a patch to KVM could make, each switched on per VM (`Kvm.create({ inject })`, a
// scenario's `vm.inject`) and checked at the exact place in the model where the kernel bug
// would be. Each comes with the VM type to explore it on; the explorer must find every one and
// shrink it to a short reproduction (see the next example). The list itself lives in
// @kvmx/vendor-ops (KVM_INJECTIONS); @kvmx/explore re-exports it.

import assert from 'node:assert/strict';
import { INJECTIONS, type Injection, injectionByName } from '@kvmx/explore';

const byVm = (vm: string) => INJECTIONS.filter((i: Injection) => i.vm === vm).map((i) => i.name);
assert.deepEqual(byVm('tdx'), [
  'remove-without-track', // tdx_sept_remove_private_spte() without tdx_track()
  'remove-without-block', // … without TDH.MEM.RANGE.BLOCK
  'mirror-zap-atomic', // a mirror leaf zapped without remove_external_spte()
  'private-in-direct', // a private fault mapped through the direct root
  'reuse-without-wbinvd', // a removed page reused without TDH.PHYMEM.PAGE.WBINVD
]);
assert.deepEqual(byVm('sw_protected'), [
  'no-zap-shared-on-private',
  'no-zero-on-accept',
  'huge-over-mixed',
]);
assert.deepEqual(byVm('snp'), ['snp-unassigned-private']);

// Every description names the kernel function where the bug would be.
for (const i of INJECTIONS) assert.match(i.description, /[a-z_]+\(\)/);
const one = injectionByName('huge-over-mixed');
assert.match(one?.description ?? '', /kvm_mmu_hugepage_adjust\(\) ignores KVM_LPAGE_MIXED_FLAG/);
assert.equal(injectionByName('HUGE-OVER-MIXED'), undefined); // names are exact
