// The small TD the concept page on direct and mirror roots runs live: one private page faulted
// in (PENDING, then MAPPED after the guest's accept), one shared page in the direct root, a
// conversion that zaps a private page, and a hostile BLOCK that leaves an S-EPT entry BLOCKED.

export const LIVE_EXAMPLE_FILE = 'roots.yaml';

export const LIVE_EXAMPLE_YAML = `# The concept page's live example (apps/docs/.vitepress/theme/lib/live-example.ts)
name: one private page and one shared page of a TD
vm: {type: tdx}
steps:
  - memslot: {slot: 1, gpa: 0x80000000, size: 2MiB, guestMemfd: true}
    note: a slot with a guest_memfd for private memory and host memory for shared
  - setAttributes: {gpa: 0x80000000, size: 2MiB, private: true}
  - finalize
  - write: {gpa: 0x80000000, size: 8, byte: 0x11, private: true}
    expect: {exit: ve}
    note: "private write: fault-in through the mirror root, TDH.MEM.PAGE.AUG leaves the page PENDING, the guest gets a #VE"
  - accept: {gpa: 0x80000000}
    note: the guest accepts the page - the S-EPT entry becomes MAPPED
  - resume
  - mapGpa: {gpa: 0x80001000, size: 4KiB, shared: true}
    expect: {exit: hypercall}
  - setAttributes: {gpa: 0x80001000, size: 4KiB, private: false}
  - resume: {ret: 0}
  - write: {gpa: 0x80001000, size: 8, byte: 0x22, private: false}
    note: "shared write: GPA 0x800080001000 carries the shared bit, KVM maps it in the direct root"
  - mapGpa: {gpa: 0x80000000, size: 4KiB, shared: true}
    expect: {exit: hypercall}
  - setAttributes: {gpa: 0x80000000, size: 4KiB, private: false}
    note: converting to shared zaps the private page - BLOCK, TRACK, REMOVE in the S-EPT
  - resume: {ret: 0}
  - write: {gpa: 0x80002000, size: 8, byte: 0x33, private: true}
    expect: {exit: ve}
  - accept: {gpa: 0x80002000}
  - resume
  - seamcall: {leaf: TDH.MEM.RANGE.BLOCK, gpa: 0x80002000}
    expect: {status: TDX_SUCCESS, violation: true}
    note: a raw SEAMCALL behind KVM's back blocks the entry; KVM's mirror root still maps it
`;
