// The scenario `kvmx demo` tells: a TD's life, from measured boot pages to teardown. Kept
// here, not in the CLI, so the docs playground can run the same story.

/** The name the demo's events and messages use for its (embedded) file. */
export const DEMO_FILE = '<demo>';

export const DEMO_SCENARIO_YAML = `# kvmx demo: a TD's life.
name: a TD's life
vm: {type: tdx, vcpus: 1}
steps:
  - memslot: {slot: 0, gpa: 0x80000000, size: 2MiB, guestMemfd: true}
    note: the VMM gives the TD 2 MiB of RAM, backed by guest_memfd for its private side
  - hostWrite: {gpa: 0x80000000, size: 8KiB, byte: 0xf4}
    note: the VMM loads a boot image (8 KiB of hlt) into the shared backing
  - setAttributes: {gpa: 0x80000000, size: 2MiB, private: true}
    note: all of RAM becomes private (KVM_SET_MEMORY_ATTRIBUTES)
  - initMemRegion: {gpa: 0x80000000, size: 8KiB, measure: true}
    note: KVM_TDX_INIT_MEM_REGION copies the image into private pages and measures it
  - finalize:
    note: KVM_TDX_FINALIZE_VM (TDH.MR.FINALIZE) seals the measurement
  - check: {mrtd: "0xbb6b1cf067aceb87384e27c383f2a01f7919e1ffa81394d25573e84fe108c8348e038713542e1638f1c5f9ace6e3da7c"}
    note: the measurement of the two boot pages (SHA-384 over PAGE.ADD and MR.EXTEND records)
  - read: {gpa: 0x80000000, size: 16, private: true}
    note: the TD reads its first boot page, privately
    expect: {exit: none, bytes: 0xf4}
    expectOn: {sw_protected: {exit: none, bytes: 0}}
  - accept: {gpa: 0x80100000, size: 16KiB}
    note: the guest accepts 16 KiB of private memory; each TDG.MEM.PAGE.ACCEPT faults the page in first
  - write: {gpa: 0x80100000, size: 16KiB, byte: 0x11, private: true}
    note: and uses it
    expect: {exit: none}
  - mapGpa: {gpa: 0x80100000, size: 8KiB, shared: true}
    note: the guest asks to share two pages with the host (MapGPA)
    expect: {exit: hypercall, nr: 12, args: [0x80100000, 2, 0]}
  - setAttributes: {gpa: 0x80100000, size: 8KiB, private: false}
    note: the VMM converts them; KVM zaps the private pages out of the S-EPT
  - resume:
    expect: {exit: none}
  - hostWrite: {gpa: 0x80100000, size: 8KiB, byte: 0x22}
    note: the VMM writes into the now-shared pages
  - read: {gpa: 0x80100000, size: 8KiB, private: false}
    note: the guest sees the host's bytes through the shared alias
    expect: {exit: none, bytes: 0x22}
  - read: {gpa: 0x80102000, size: 8KiB, private: true}
    note: its other two pages stayed private
    expect: {exit: none, bytes: 0x11}
  - mapGpa: {gpa: 0x80100000, size: 8KiB, shared: false}
    note: the guest takes the pages back
    expect: {exit: hypercall, nr: 12, args: [0x80100000, 2, 0x10]}
  - setAttributes: {gpa: 0x80100000, size: 8KiB, private: true}
  - resume:
    expect: {exit: none}
  - accept: {gpa: 0x80100000, size: 8KiB}
    note: private again, and PENDING until accepted
  - read: {gpa: 0x80100000, size: 8KiB, private: true}
    note: re-accepted private pages are zeroed (sw_protected keeps its guest_memfd page, 0x11)
    expect: {exit: none, bytes: 0}
    expectOn: {sw_protected: {exit: none, bytes: 0x11}}
  - check: {gpa: 0x80100000, root: sept, level: 1, state: MAPPED}
    note: the S-EPT entry is MAPPED again, at 4K
  - destroy
`;

/** The story `kvmx demo --vm snp` tells: an SNP guest's life, launch to teardown. */
export const DEMO_SNP_SCENARIO_YAML = `# kvmx demo --vm snp: an SNP guest's life.
name: an SNP guest's life
vm: {type: snp, vcpus: 1}
steps:
  - memslot: {slot: 0, gpa: 0x80000000, size: 2MiB, guestMemfd: true}
    note: the VMM gives the guest 2 MiB of RAM, backed by guest_memfd for its private side (KVM_SEV_INIT2 and SNP_LAUNCH_START ran at creation)
  - hostWrite: {gpa: 0x80000000, size: 8KiB, byte: 0xf4}
    note: the VMM loads a boot image (8 KiB of hlt) into the shared backing
  - setAttributes: {gpa: 0x80000000, size: 8KiB, private: true}
    note: the boot pages become private (KVM_SET_MEMORY_ATTRIBUTES)
  - initMemRegion: {gpa: 0x80000000, size: 8KiB, pageType: normal}
    note: SNP_LAUNCH_UPDATE copies the image into guest_memfd pages, assigns them in the RMP and has the firmware measure and validate them
  - finalize:
    note: SNP_LAUNCH_FINISH gives the firmware the vCPU's VMSA page and seals the launch
  - read: {gpa: 0x80000000, size: 16, private: true}
    note: the guest reads its first boot page with the C-bit set; launched pages are already validated
    expect: {exit: none, bytes: 0xf4}
  - mapGpa: {gpa: 0x80100000, size: 4KiB, shared: false}
    note: the guest asks for a page to become private (GHCB MSR protocol, page-state change); KVM exits with KVM_HC_MAP_GPA_RANGE
    expect: {exit: hypercall, nr: 12, args: [0x80100000, 1, 0x10]}
  - setAttributes: {gpa: 0x80100000, size: 4KiB, private: true}
    note: the VMM converts it
  - resume:
    expect: {exit: none}
  - pvalidate: {gpa: 0x80100000, size: 4KiB, validate: true}
    note: the guest validates it; PVALIDATE's nested page fault brings the page in (sev_gmem_prepare assigns it in the RMP)
    expect: {exit: none}
  - write: {gpa: 0x80100000, size: 4KiB, byte: 0x11, private: true}
    note: and uses it privately
    expect: {exit: none}
  - check: {gpa: 0x80100000, root: rmp, mapped: true, state: validated}
    note: the RMP entry is assigned to this guest at this GPA, validated
  - pvalidate: {gpa: 0x80100000, size: 4KiB, validate: false}
    note: to share it, the guest first rescinds validation
  - mapGpa: {gpa: 0x80100000, size: 4KiB, shared: true}
    note: then asks for the page to become shared
    expect: {exit: hypercall, nr: 12, args: [0x80100000, 1, 0]}
  - setAttributes: {gpa: 0x80100000, size: 4KiB, private: false}
    note: the VMM converts it; KVM zaps the private mapping
  - resume:
    expect: {exit: none}
  - hostWrite: {gpa: 0x80100000, size: 4KiB, byte: 0x22}
    note: the VMM writes into the now-shared page
  - read: {gpa: 0x80100000, size: 16, private: false}
    note: the guest reads the host's bytes with the C-bit clear
    expect: {exit: none, bytes: 0x22}
  - mapGpa: {gpa: 0x80100000, size: 4KiB, shared: false}
    note: and takes the page back
    expect: {exit: hypercall, nr: 12, args: [0x80100000, 1, 0x10]}
  - setAttributes: {gpa: 0x80100000, size: 4KiB, private: true}
  - resume:
    expect: {exit: none}
  - pvalidate: {gpa: 0x80100000, size: 4KiB, validate: true}
    note: validating it again; its guest_memfd page kept the private bytes
  - read: {gpa: 0x80100000, size: 16, private: true}
    expect: {exit: none, bytes: 0x11}
  - destroy:
    note: teardown; sev_gmem_invalidate returns every guest_memfd page to the hypervisor in the RMP
`;
