// Test fixtures: a module on a frame pool and a TD built the way KVM builds one
// (tdx_td_init → MNG.CREATE, KEY.CONFIG per package, ADDCX ×n, MNG.INIT; tdx_vcpu_init →
// VP.CREATE, VP.ADDCX ×n, VP.INIT). Used by the tests only.

import { FrameOwner, FramePool } from '@kvmx/paging';
import { formatStatus, type TdxStatus } from './status.js';
import { encodeTdParams, type TdParams, TdxModule, type TdxModuleOptions } from './tdx-module.js';

export interface Fixture {
  pool: FramePool;
  mod: TdxModule;
  tdr: number;
  hkid: number;
  vcpus: number[];
  /** Allocate a host frame (PA). */
  page(owner?: number): number;
}

export function expectOk(s: TdxStatus, what = 'call'): void {
  if (s.hi !== 0 || s.lo !== 0) throw new Error(`${what} failed: ${formatStatus(s)}`);
}

export function newModule(opts: Partial<TdxModuleOptions> = {}): {
  pool: FramePool;
  mod: TdxModule;
} {
  const pool = new FramePool({ maxFrames: 1 << 20 });
  const mod = new TdxModule({ pool, ...opts });
  return { pool, mod };
}

export function pageOf(pool: FramePool, owner: number = FrameOwner.HOST): number {
  return pool.alloc(owner as FrameOwner) * 4096;
}

/** Build a TD up to OP_STATE_INITIALIZED with `nvcpus` initialised vCPUs. */
export function buildTd(
  opts: Partial<TdxModuleOptions> & {
    params?: Partial<TdParams>;
    nvcpus?: number;
    hkid?: number;
  } = {},
): Fixture {
  const { pool, mod } = newModule(opts);
  return buildTdIn(pool, mod, opts);
}

/** Build another TD in an existing module (a fresh HKID from the module's KeyID pool). */
export function buildTdIn(
  pool: FramePool,
  mod: TdxModule,
  opts: { params?: Partial<TdParams>; nvcpus?: number; hkid?: number } = {},
): Fixture {
  const page = (owner: number = FrameOwner.HOST) => pageOf(pool, owner);
  const hkid = opts.hkid ?? mod.keyIds.alloc();
  const tdr = page(FrameOwner.TDX_TDR);
  expectOk(mod.mngCreate(tdr, hkid), 'MNG.CREATE');
  for (let pkg = 0; pkg < mod.packages; pkg++) {
    mod.onLp(pkg * mod.lpsPerPackage);
    expectOk(mod.mngKeyConfig(tdr), 'MNG.KEY.CONFIG');
  }
  mod.onLp(0);
  for (let i = 0; i < mod.tdcsPages; i++)
    expectOk(mod.mngAddcx(tdr, page(FrameOwner.TDX_TDCS)), 'MNG.ADDCX');
  const params = page(FrameOwner.HOST);
  pool.write(params / 4096, 0, encodeTdParams({ maxVcpus: 8, ...opts.params }));
  expectOk(mod.mngInit(tdr, params), 'MNG.INIT');
  const vcpus: number[] = [];
  for (let i = 0; i < (opts.nvcpus ?? 1); i++) {
    const tdvpr = page(FrameOwner.TDX_TDVPR);
    expectOk(mod.vpCreate(tdr, tdvpr), 'VP.CREATE');
    for (let j = 1; j < mod.tdvpsPages; j++)
      expectOk(mod.vpAddcx(tdvpr, page(FrameOwner.TDX_TDVPX)), 'VP.ADDCX');
    expectOk(mod.vpInit(tdvpr, 0), 'VP.INIT');
    vcpus.push(tdvpr);
  }
  return { pool, mod, tdr, hkid, vcpus, page };
}

/** SEPT.ADD the tables above `gpa` down to the PT (module levels root-1 .. 1). */
export function mapTables(f: Fixture, gpa: number): void {
  const td = f.mod.td(f.tdr);
  if (td === undefined) throw new Error('no TD');
  for (let level = td.septRootLevel; level >= 1; level--) {
    const e = f.mod.septEntry(f.tdr, gpa, level);
    if (e !== null && e.level === level && e.state === 'NL_MAPPED') continue;
    expectOk(
      f.mod.memSeptAdd(
        f.tdr,
        gpa - (gpa % 2 ** (12 + 9 * level)),
        level,
        f.page(FrameOwner.KVM_EXTERNAL_SPT),
      ),
      `SEPT.ADD L${level}`,
    );
  }
}
