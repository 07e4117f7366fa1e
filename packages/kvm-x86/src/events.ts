// The facade's event stream: one typed union (CONTRACTS §1 field names), emitted by KVM code
// and, through VendorContext.emit, by vendor code. Emitting costs one boolean test when
// nobody listens: call sites check `events.active` before building an event object.

import type { VendorEvent } from '@kvmx/vendor-ops';

export type RootKind = 'direct' | 'mirror';

export type KvmEvent =
  | VendorEvent
  | {
      /** A kvm_x86_ops call the MMU makes, emitted just before the call (its SEAMCALLs follow). */
      readonly type: 'hook';
      readonly op: string;
      readonly gfn: string;
      readonly level: number;
    }
  | {
      /** One SPTE write (alias-free GFN, as KVM's tdp_iter keeps it). */
      readonly type: 'spte';
      readonly root: RootKind;
      readonly gfn: string;
      readonly level: number;
      readonly old: string;
      readonly new: string;
    }
  | {
      readonly type: 'exit';
      readonly vcpu: number;
      readonly reason: string;
      readonly gpa?: string;
      readonly size?: string;
      readonly flags?: string;
      readonly nr?: string;
      readonly args?: readonly string[];
      readonly detail?: string;
    }
  | {
      /** KVM_SET_MEMORY_ATTRIBUTES completed. */
      readonly type: 'attributes';
      readonly gpa: string;
      readonly size: string;
      readonly attributes: string;
    }
  | {
      /** guest_memfd activity: allocate (fault or fallocate), punch, release. */
      readonly type: 'gmem';
      readonly op: 'allocate' | 'punch_hole' | 'release' | 'bind' | 'unbind';
      readonly gmem: number;
      readonly offset: string;
      readonly size: string;
      readonly pfn?: string;
    }
  | { readonly type: 'violation'; readonly invariant: string; readonly detail: string };

export type KvmEventListener = (event: KvmEvent) => void;

export class EventBus {
  private listeners: KvmEventListener[] = [];
  /** True while at least one listener is attached; call sites test it before building. */
  active = false;
  /** Told when `active` flips (vendor code turns its SEAMCALL tracing on and off). */
  onActiveChange: ((active: boolean) => void) | null = null;

  on(listener: KvmEventListener): () => void {
    this.listeners.push(listener);
    this.setActive(true);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
      this.setActive(this.listeners.length > 0);
    };
  }

  private setActive(active: boolean): void {
    if (active === this.active) return;
    this.active = active;
    this.onActiveChange?.(active);
  }

  emit(event: KvmEvent): void {
    for (const l of this.listeners) l(event);
  }
}
