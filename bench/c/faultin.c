/*
 * The C anchor of `kvmx bench faultin` (performance.md B.4): the same steps the kvmx facade
 * performs when a TD guest accepts N distinct private 4 KiB pages of a 64 GiB
 * guest_memfd-backed memslot, in the same random order (xorshift32 partial Fisher-Yates over
 * 2^24 GFNs, as bench/c/paging.c and @kvmx/paging benchGfns()).
 *
 * Per page:
 *  1. the guest's TDG.MEM.PAGE.ACCEPT walks the Secure-EPT; the entry is missing, so the TD
 *     exits with an EPT violation;
 *  2. KVM's fault path: the memslot lookup, the private-attribute check (a bitmap over the
 *     slot), guest_memfd's get-or-allocate of the folio for the slot index;
 *  3. the mirror walk (kvm_tdp_mmu_map): each missing level gets a KVM page table (filled
 *     with SHADOW_NONPRESENT_VALUE) plus an external page that TDH.MEM.SEPT.ADD donates to the
 *     module, which checks TD state, level, GPA, the parent S-EPT entry (FREE) and the page's
 *     PAMT entry (NDA), fills the table with FREE entries, sets PAMT to PT_EPT and links it;
 *  4. TDH.MEM.PAGE.AUG: the same operand checks, the leaf must be FREE and the page NDA in
 *     PAMT; the leaf becomes PENDING and PAMT PT_REG; KVM sets its mirror leaf;
 *  5. the ACCEPT is re-executed: PENDING -> MAPPED (the page is zeroed: it has no contents
 *     yet in either program, so nothing is written).
 * Around the guest's TDCALLs, as kvmx models them: TDH.VP.ENTER (TDVPR operand and PAMT type,
 * TD runnable, vCPU ready, the TD epoch reference), the TD exit (reference dropped, exit
 * recorded) whose VP.ENTER result KVM reads (exit registers), and after the page an
 * external-interrupt TD exit that ends the operation.
 *
 * Every structure is allocated fresh per run. Cold: the page-table store is touched as the run
 * goes. Warm: every page of it and of the per-frame arrays is touched before the clock starts,
 * as kvmx's FramePool.reserve() does for the warm JS runs (performance.md B.2: report warm and
 * cold apart). Each run reports the minor page faults taken inside the timed loop.
 *
 * Usage: faultin <pages> <runs> <seed> [warm|cold]   -> one JSON object per run on stdout.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define GUEST_GFNS (1u << 24)
#define SLOT_BASE_GFN 0x100000ull /* the memslot starts at GPA 4 GiB */
#define SHARED_BIT_GPA (1ull << 47) /* GPAW 48 */
#define NONPRESENT (1ull << 63)
#define MMU_PRESENT (1ull << 11)
#define ADDR_MASK 0x000ffffffffff000ull
#define NONLEAF_ATTRS 0x8000000000000907ull
#define LEAF_ATTRS 0x8600000000000a37ull
/* S-EPT entry states (software bits of the module's entries). */
#define SEPT_STATE_SHIFT 52
#define SEPT_STATE_MASK (0xfull << SEPT_STATE_SHIFT)
#define SEPT_FREE (1ull << 63)
#define SEPT_NL_MAPPED 1ull
#define SEPT_PENDING 2ull
#define SEPT_MAPPED 3ull
#define SEPT_RWX 7ull
/* PAMT page types. */
enum { PT_NDA = 0, PT_REG = 1, PT_EPT = 8, PT_TDR = 2, PT_TDVPR = 3 };
enum { OWN_FREE = 0, OWN_KVM_PT = 1, OWN_SEPT = 2, OWN_GMEM = 3 };

/* Host memory: per-frame metadata and a slot (4 KiB of words) for frames used as tables. */
static uint32_t max_frames, next_pfn;
static uint8_t *owner;
static uint8_t *pamt_pt;
static uint32_t *pamt_owner;
static uint32_t *slot_of; /* frame -> table slot + 1 */
static uint64_t *tables;
static uint32_t tables_used, tables_cap;
/* guest_memfd: the folio of each file index (0 = not allocated). */
static uint32_t *gmem_pfn;
/* memory attributes: one bit per GFN of the slot. */
static uint64_t *attr_private;
/* the TD */
static uint32_t tdr_pfn, sept_root, mirror_root;
static uint64_t chldcnt;
static int td_runnable;
static uint64_t sept_tables, mirror_tables;
/* the vCPU: its TDVPR page, state, epoch reference and last exit (exit registers) */
enum { VCPU_READY = 1, VCPU_ACTIVE = 2 };
enum { EXIT_EPT_VIOLATION = 48, EXIT_EXTERNAL_INTERRUPT = 1 };
static uint32_t tdvpr_pfn;
static int vcpu_state, vcpu_in_guest;
static uint64_t td_epoch, td_refcount[2], vcpu_epoch;
static uint64_t exit_reason, exit_qual, exit_ext_qual, exit_gpa;
/* not static: the exit registers are an output, kept like the kvmx register file */
uint64_t faultin_out_regs[4];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);
	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	return p;
}

/*
 * Touch every page of a buffer now, so that its first-touch page faults fall before the
 * clock. Not memset(): GCC folds malloc() + memset(0) into calloc(), whose fresh pages are
 * then first touched inside the timed loop, one page fault per table.
 */
static void touch_pages(void *p, size_t bytes)
{
	volatile uint8_t *b = p;
	for (size_t o = 0; o < bytes; o += 4096)
		b[o] = 0;
}

static uint32_t alloc_frame(uint8_t who)
{
	if (next_pfn >= max_frames) {
		fprintf(stderr, "host memory exhausted\n");
		exit(1);
	}
	owner[next_pfn] = who;
	return next_pfn++;
}

static uint64_t *table_of(uint32_t pfn)
{
	uint32_t s = slot_of[pfn];
	if (!s) {
		if (tables_used == tables_cap) {
			fprintf(stderr, "table store exhausted\n");
			exit(1);
		}
		s = slot_of[pfn] = ++tables_used;
	}
	return tables + (size_t)(s - 1) * 512;
}

static void fill_table(uint32_t pfn, uint64_t v)
{
	uint64_t *t = table_of(pfn);
	for (int i = 0; i < 512; i++)
		t[i] = v;
}

static inline unsigned idx_at(uint64_t gfn, int level)
{
	return (gfn >> (9 * (level - 1))) & 511;
}

static inline uint64_t sept_state(uint64_t e)
{
	return e == SEPT_FREE ? 0 : (e & SEPT_STATE_MASK) >> SEPT_STATE_SHIFT;
}

/*
 * secure_ept_walk(): descend through NL_MAPPED entries towards `level`. Returns the entry
 * reached (at `level`) or NULL, with the level where it stopped.
 */
static uint64_t *sept_walk(uint64_t gfn, int level, int *stopped)
{
	uint64_t *t = table_of(sept_root);
	for (int l = 4;; l--) {
		uint64_t *e = &t[idx_at(gfn, l)];
		*stopped = l;
		if (l == level)
			return e;
		if (sept_state(*e) != SEPT_NL_MAPPED)
			return NULL;
		t = table_of((uint32_t)((*e & ADDR_MASK) >> 12));
	}
}

/* The operand checks every S-EPT SEAMCALL makes: TDR, TD state, level, GPA. */
static int sept_operands(uint32_t tdr, uint64_t gpa, int level, int min, int max)
{
	if (tdr != tdr_pfn || owner[tdr] != OWN_SEPT || pamt_pt[tdr] != PT_TDR)
		return -1;
	if (!td_runnable)
		return -2;
	if (level < min || level > max)
		return -3;
	if (gpa & ((1ull << (12 + 9 * (level - 1))) - 1))
		return -3;
	if (gpa >= SHARED_BIT_GPA)
		return -3;
	return 0;
}

/* TDH.MEM.SEPT.ADD(gpa, level, tdr, page) */
static int sept_add(uint64_t gpa, int level, uint32_t tdr, uint32_t page)
{
	int r = sept_operands(tdr, gpa, level, 2, 4), stopped;
	if (r)
		return r;
	uint64_t *e = sept_walk(gpa >> 12, level, &stopped);
	if (!e)
		return -4; /* EPT_WALK_FAILED */
	if (*e != SEPT_FREE)
		return -5; /* EPT_ENTRY_STATE_INCORRECT */
	if (page >= next_pfn || pamt_pt[page] != PT_NDA)
		return -6; /* PAGE_METADATA_INCORRECT */
	fill_table(page, SEPT_FREE);
	pamt_pt[page] = PT_EPT;
	pamt_owner[page] = tdr;
	chldcnt++;
	*e = ((uint64_t)page << 12) | (SEPT_NL_MAPPED << SEPT_STATE_SHIFT) | SEPT_RWX;
	sept_tables++;
	return 0;
}

/* TDH.MEM.PAGE.AUG(gpa, 4K, tdr, pfn) */
static int page_aug(uint64_t gpa, uint32_t tdr, uint32_t pfn)
{
	int r = sept_operands(tdr, gpa, 1, 1, 2), stopped;
	if (r)
		return r;
	uint64_t *e = sept_walk(gpa >> 12, 1, &stopped);
	if (!e)
		return -4;
	if (*e != SEPT_FREE)
		return -5;
	if (pfn >= next_pfn || pamt_pt[pfn] != PT_NDA)
		return -6;
	*e = ((uint64_t)pfn << 12) | (SEPT_PENDING << SEPT_STATE_SHIFT);
	chldcnt++;
	pamt_pt[pfn] = PT_REG;
	pamt_owner[pfn] = tdr;
	return 0;
}

/* TDH.VP.ENTER(tdvpr): the operand and TD checks, then the vCPU is inside the TD. */
static int vp_enter(uint32_t tdvpr)
{
	if (tdvpr >= next_pfn || owner[tdvpr] != OWN_SEPT || pamt_pt[tdvpr] != PT_TDVPR ||
	    pamt_owner[tdvpr] != tdr_pfn)
		return -1;
	if (!td_runnable)
		return -2;
	if (vcpu_state != VCPU_READY || vcpu_in_guest)
		return -8; /* VCPU_STATE_INCORRECT */
	td_refcount[td_epoch & 1]++;
	vcpu_epoch = td_epoch;
	vcpu_in_guest = 1;
	vcpu_state = VCPU_ACTIVE;
	return 0;
}

/* A TD exit: drop the epoch reference, record the exit. */
static void td_exit(uint64_t reason, uint64_t qual, uint64_t ext_qual, uint64_t gpa)
{
	td_refcount[vcpu_epoch & 1]--;
	vcpu_in_guest = 0;
	vcpu_state = VCPU_READY;
	exit_reason = reason;
	exit_qual = qual;
	exit_ext_qual = ext_qual;
	exit_gpa = gpa;
}

/* The VP.ENTER result KVM reads after the exit: the exit registers. */
static uint64_t vp_enter_result(void)
{
	faultin_out_regs[0] = exit_qual;
	faultin_out_regs[1] = exit_ext_qual;
	faultin_out_regs[2] = exit_gpa;
	faultin_out_regs[3] = 0;
	return exit_reason;
}

/* TDG.MEM.PAGE.ACCEPT(gpa, 4K): 0 = accepted, 1 = EPT-violation TD exit, <0 = error. */
static int page_accept(uint64_t gpa)
{
	int stopped;
	if (gpa >= SHARED_BIT_GPA || (gpa & 0xfff))
		return -3;
	uint64_t *e = sept_walk(gpa >> 12, 1, &stopped);
	if (!e || sept_state(*e) == 0) {
		td_exit(EXIT_EPT_VIOLATION, 0, 6 /* EXT_EXIT_QUAL_TYPE_ACCEPT */, gpa);
		return 1;
	}
	uint64_t s = sept_state(*e);
	if (s == SEPT_MAPPED)
		return -7; /* PAGE_ALREADY_ACCEPTED */
	if (s != SEPT_PENDING)
		return -5;
	*e = (*e & ~SEPT_STATE_MASK) | (SEPT_MAPPED << SEPT_STATE_SHIFT) | SEPT_RWX;
	return 0;
}

/* kvm_mmu_faultin_pfn_private() + kvm_tdp_mmu_map() with the external S-EPT hooks. */
static int tdp_page_fault(uint64_t gpa)
{
	uint64_t gfn = gpa >> 12;
	/* memslot lookup (one slot) */
	if (gfn < SLOT_BASE_GFN || gfn >= SLOT_BASE_GFN + GUEST_GFNS)
		return -14;
	uint64_t index = gfn - SLOT_BASE_GFN;
	/* the fault is private; the attributes must say private */
	if (!((attr_private[index >> 6] >> (index & 63)) & 1))
		return -14; /* memory-fault exit */
	/* kvm_gmem_get_pfn() */
	uint32_t pfn = gmem_pfn[index];
	if (!pfn)
		pfn = gmem_pfn[index] = alloc_frame(OWN_GMEM);
	/* kvm_tdp_mmu_map() on the mirror root */
	uint64_t *t = table_of(mirror_root);
	for (int level = 4; level > 1; level--) {
		uint64_t *e = &t[idx_at(gfn, level)];
		if (!(*e & MMU_PRESENT)) {
			uint32_t sp = alloc_frame(OWN_KVM_PT);
			fill_table(sp, NONPRESENT);
			uint32_t ext = alloc_frame(OWN_KVM_PT);
			uint64_t cgpa = (gfn >> (9 * (level - 1))) << (12 + 9 * (level - 1));
			int r = sept_add(cgpa, level, tdr_pfn, ext);
			if (r)
				return r;
			owner[ext] = OWN_SEPT;
			*e = ((uint64_t)sp << 12) | NONLEAF_ATTRS;
			mirror_tables++;
		}
		t = table_of((uint32_t)((*e & ADDR_MASK) >> 12));
	}
	uint64_t *leaf = &t[gfn & 511];
	if (*leaf & MMU_PRESENT)
		return 0; /* spurious */
	int r = page_aug(gfn << 12, tdr_pfn, pfn);
	if (r)
		return r;
	*leaf = ((uint64_t)pfn << 12) | LEAF_ATTRS;
	return 0;
}

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], 0, 0) : 1000000;
	int runs = argc > 2 ? atoi(argv[2]) : 1;
	uint32_t rng = argc > 3 ? (uint32_t)strtoul(argv[3], 0, 0) : 0x9e3779b9u;
	int warm = argc > 4 && strcmp(argv[4], "warm") == 0;
	if (!rng)
		rng = 1;
	if (n < 1 || n > GUEST_GFNS) {
		fprintf(stderr, "pages must be 1..%u\n", GUEST_GFNS);
		return 2;
	}
	uint32_t *perm = malloc(GUEST_GFNS * sizeof(uint32_t));
	for (uint32_t i = 0; i < GUEST_GFNS; i++)
		perm[i] = i;
	for (uint32_t i = 0; i < n; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 17;
		rng ^= rng << 5;
		uint32_t j = i + rng % (GUEST_GFNS - i);
		uint32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}

	for (int run = 0; run < runs; run++) {
		/* host memory: the guest's pages, and per tree at most min(3n, 32768 PTs + 64 PDs +
		 * 2 PDPTs) tables, each a KVM page plus an S-EPT page */
		uint32_t max_tables = 3 * n < 32834 ? 3 * n : 32834;
		max_frames = n + 2 * max_tables + 8;
		next_pfn = 1;
		owner = xcalloc(max_frames, 1);
		pamt_pt = xcalloc(max_frames, 1);
		pamt_owner = xcalloc(max_frames, sizeof(uint32_t));
		slot_of = xcalloc(max_frames, sizeof(uint32_t));
		tables_cap = 2 * max_tables + 8;
		tables = malloc((size_t)tables_cap * 4096);
		if (!tables) {
			fprintf(stderr, "out of memory\n");
			exit(1);
		}
		if (warm)
			touch_pages(tables, (size_t)tables_cap * 4096);
		tables_used = 0;
		gmem_pfn = xcalloc(GUEST_GFNS, sizeof(uint32_t));
		attr_private = xcalloc(GUEST_GFNS / 64, sizeof(uint64_t));
		if (warm) {
			/* touch the per-frame and per-index arrays too (calloc left them unmapped) */
			touch_pages(owner, max_frames);
			touch_pages(pamt_pt, max_frames);
			touch_pages(pamt_owner, (size_t)max_frames * sizeof(uint32_t));
			touch_pages(slot_of, (size_t)max_frames * sizeof(uint32_t));
			touch_pages(gmem_pfn, GUEST_GFNS * sizeof(uint32_t));
		}
		/* KVM_SET_MEMORY_ATTRIBUTES(PRIVATE) over the whole slot */
		memset(attr_private, 0xff, GUEST_GFNS / 8);
		/* the TD: TDR, S-EPT root (TDCS), mirror root */
		tdr_pfn = alloc_frame(OWN_SEPT);
		pamt_pt[tdr_pfn] = PT_TDR;
		sept_root = alloc_frame(OWN_SEPT);
		pamt_pt[sept_root] = PT_EPT;
		fill_table(sept_root, SEPT_FREE);
		mirror_root = alloc_frame(OWN_KVM_PT);
		fill_table(mirror_root, NONPRESENT);
		td_runnable = 1;
		tdvpr_pfn = alloc_frame(OWN_SEPT);
		pamt_pt[tdvpr_pfn] = PT_TDVPR;
		pamt_owner[tdvpr_pfn] = tdr_pfn;
		vcpu_state = VCPU_READY;
		vcpu_in_guest = 0;
		td_epoch = 1;
		td_refcount[0] = td_refcount[1] = 0;
		chldcnt = sept_tables = mirror_tables = 0;

		struct rusage ru0;
		getrusage(RUSAGE_SELF, &ru0);
		double cpu0 = cpu_s();
		double t0 = now_s();
		uint64_t exits = 0;
		for (uint32_t i = 0; i < n; i++) {
			uint64_t gpa = (SLOT_BASE_GFN + perm[i]) << 12;
			int r;
			for (;;) {
				if (!vcpu_in_guest && (r = vp_enter(tdvpr_pfn)) != 0) {
					fprintf(stderr, "VP.ENTER: %d\n", r);
					return 1;
				}
				if ((r = page_accept(gpa)) != 1)
					break;
				exits++;
				if (vp_enter_result() != EXIT_EPT_VIOLATION || exit_gpa != gpa)
					return 1;
				int f = tdp_page_fault(gpa);
				if (f) {
					fprintf(stderr, "fault at %#llx: %d\n", (unsigned long long)gpa, f);
					return 1;
				}
			}
			if (r) {
				fprintf(stderr, "accept at %#llx: %d\n", (unsigned long long)gpa, r);
				return 1;
			}
			/* the operation ends: an external-interrupt TD exit and its VP.ENTER result */
			td_exit(EXIT_EXTERNAL_INTERRUPT, 0, 0, 0);
			vp_enter_result();
		}
		double secs = now_s() - t0;
		double cpu = cpu_s() - cpu0;
		struct rusage ru1;
		getrusage(RUSAGE_SELF, &ru1);
		long page_faults = ru1.ru_minflt - ru0.ru_minflt;
		/* verification, untimed: every accepted GFN is MAPPED in the S-EPT */
		uint64_t mapped = 0, gfn_sum = 0;
		for (uint32_t i = 0; i < n; i++) {
			int stopped;
			uint64_t gfn = SLOT_BASE_GFN + perm[i];
			uint64_t *e = sept_walk(gfn, 1, &stopped);
			if (e && sept_state(*e) == SEPT_MAPPED) {
				mapped++;
				gfn_sum += gfn;
			}
		}
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		printf("{\"pages\":%u,\"warm\":%s,\"seconds\":%.6f,\"cpuSeconds\":%.6f,\"exits\":%llu,\"mapped\":%llu,"
		       "\"gfnSum\":\"%llu\",\"septTables\":%llu,\"mirrorTables\":%llu,"
		       "\"chldcnt\":%llu,\"maxRssBytes\":%ld,\"pageFaults\":%ld}\n",
		       n, warm ? "true" : "false", secs, cpu, (unsigned long long)exits, (unsigned long long)mapped,
		       (unsigned long long)gfn_sum, (unsigned long long)sept_tables,
		       (unsigned long long)mirror_tables, (unsigned long long)chldcnt,
		       ru.ru_maxrss * 1024L, page_faults);
		fflush(stdout);
		free(owner);
		free(pamt_pt);
		free(pamt_owner);
		free(slot_of);
		free(tables);
		free(gmem_pfn);
		free(attr_private);
	}
	free(perm);
	return 0;
}
