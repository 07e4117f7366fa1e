// Tables looked up by the same key several times per operation: the module's TDs and vCPUs
// (by TDR / TDVPR PFN) and KVM's TDX vCPU records (by vCPU id) are each looked up several
// times in one fault-in. Remembering the last lookup spares a hash lookup each time; the
// table forgets it on every change, so no caller has to.

/** A Map by number that remembers its last get(), found or not; set/delete/clear forget it. */
export class LastLookupMap<V> extends Map<number, V> {
  // NaN equals no key, so an empty memory never answers.
  private lastKey = Number.NaN;
  private lastValue: V | undefined = undefined;

  override get(key: number): V | undefined {
    if (key === this.lastKey) return this.lastValue;
    const value = super.get(key);
    this.lastKey = key;
    this.lastValue = value;
    return value;
  }

  override set(key: number, value: V): this {
    this.forget();
    return super.set(key, value);
  }

  override delete(key: number): boolean {
    this.forget();
    return super.delete(key);
  }

  override clear(): void {
    this.forget();
    super.clear();
  }

  private forget(): void {
    this.lastKey = Number.NaN;
    this.lastValue = undefined;
  }
}
