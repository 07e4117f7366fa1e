/*
 * The C anchor of `kvmx bench paging`: the same sparse 4-level EPT radix tree as
 * @kvmx/paging, written the way C would write it, run on the same workload.
 *
 * Same semantics as the JS engine: the leaf write reads the old SPTE (refusing FROZEN_SPTE)
 * and keeps a leaf count, as KVM's write path does; zaps free the emptied tables.
 *
 * Structure: 4 KiB tables of 512 64-bit entries carved from one pool (bump allocator plus a
 * free list), entries bit-exact with KVM's: non-leaf = make_nonleaf_spte() of the child
 * table's PFN (POOL_BASE_PFN + table id), leaf = the typical shared 4K leaf
 * (pfn << 12 | 0x8600000000000B37), empty = SHADOW_NONPRESENT_VALUE (bit 63).
 *
 * Workload (identical in JS): N distinct random 4K GFNs in a 64 GiB guest (2^24 GFNs),
 * drawn by a partial Fisher-Yates shuffle driven by xorshift32; lookups run in a second,
 * separately shuffled order. Per run: cold map (fresh pool memory), warm map (recycled
 * tables), random lookup, sequential per-GFN lookup over all 2^24 GFNs, zap of 16 different
 * 1 GiB ranges (freeing the PTs and the PD), and zap of one densely mapped 1 GiB range.
 *
 * Usage: paging <pages> <runs> <seed>   -> one JSON object per run on stdout.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GUEST_GFNS (1u << 24)
#define POOL_BASE_PFN 0x100000ull
#define PFN_BASE 0x200000ull
#define NONPRESENT (1ull << 63)
#define MMU_PRESENT (1ull << 11)
#define PAGE_SIZE_BIT (1ull << 7)
#define ADDR_MASK 0x000ffffffffff000ull
#define NONLEAF_ATTRS 0x8000000000000907ull
#define LEAF_ATTRS 0x8600000000000b37ull
#define FROZEN_SPTE 0x80000000000005a0ull

static uint64_t *pool;
static uint32_t pool_cap, pool_used, free_top, *free_list;
static uint64_t tables_live;
static int64_t leaves;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void pool_init(uint32_t cap)
{
	pool = calloc((size_t)cap * 512, sizeof(uint64_t));
	free_list = malloc(cap * sizeof(uint32_t));
	if (!pool || !free_list) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	pool_cap = cap;
	pool_used = 0;
	free_top = 0;
	tables_live = 0;
}

static void pool_fini(void)
{
	free(pool);
	free(free_list);
}

static uint32_t alloc_table(void)
{
	uint32_t id = free_top ? free_list[--free_top] : pool_used++;
	uint64_t *t = pool + (size_t)id * 512;
	if (id >= pool_cap) {
		fprintf(stderr, "pool exhausted\n");
		exit(1);
	}
	for (int i = 0; i < 512; i++)
		t[i] = NONPRESENT;
	tables_live++;
	return id;
}

static void free_table(uint32_t id)
{
	free_list[free_top++] = id;
	tables_live--;
}

static inline uint64_t *child(uint64_t e)
{
	return pool + (size_t)(((e & ADDR_MASK) >> 12) - POOL_BASE_PFN) * 512;
}

static inline uint32_t child_id(uint64_t e)
{
	return (uint32_t)(((e & ADDR_MASK) >> 12) - POOL_BASE_PFN);
}

static uint32_t root;

static void map4k(uint64_t gfn, uint64_t pfn)
{
	uint64_t *t = pool + (size_t)root * 512;
	for (int level = 4; level > 1; level--) {
		unsigned idx = (gfn >> (9 * (level - 1))) & 511;
		uint64_t e = t[idx];
		if (!(e & MMU_PRESENT)) {
			uint32_t id = alloc_table();
			e = ((POOL_BASE_PFN + id) << 12) | NONLEAF_ATTRS;
			t[idx] = e;
		}
		t = child(e);
	}
	/*
	 * The one write path, as in @kvmx/paging and KVM (tdp_mmu_set_spte() works from
	 * iter->old_spte; handle_changed_spte() updates the leaf statistics): read the old
	 * SPTE, refuse a FROZEN one, write, account.
	 */
	uint64_t *sptep = &t[gfn & 511];
	uint64_t old = *sptep, new = (pfn << 12) | LEAF_ATTRS;
	if (old == FROZEN_SPTE)
		return;
	*sptep = new;
	leaves += (int64_t)((new >> 11) & 1) - (int64_t)((old >> 11) & 1);
}

static uint64_t lookup(uint64_t gfn)
{
	uint64_t *t = pool + (size_t)root * 512;
	for (int level = 4; level >= 1; level--) {
		uint64_t e = t[(gfn >> (9 * (level - 1))) & 511];
		if (!(e & MMU_PRESENT))
			return 0;
		if (level == 1 || (e & PAGE_SIZE_BIT))
			return (e & ADDR_MASK) >> 12;
		t = child(e);
	}
	return 0;
}

/* Zap the leaves of the 1 GiB range at gfn and free its PTs and its PD. */
static uint64_t zap1g(uint64_t gfn)
{
	uint64_t *pml4 = pool + (size_t)root * 512;
	uint64_t e4 = pml4[(gfn >> 27) & 511];
	uint64_t zapped = 0;
	if (!(e4 & MMU_PRESENT))
		return 0;
	uint64_t *pdpt = child(e4);
	unsigned i3 = (gfn >> 18) & 511;
	uint64_t e3 = pdpt[i3];
	if (!(e3 & MMU_PRESENT) || (e3 & PAGE_SIZE_BIT))
		return 0;
	uint64_t *pd = child(e3);
	for (int j = 0; j < 512; j++) {
		uint64_t e2 = pd[j];
		if (!(e2 & MMU_PRESENT))
			continue;
		uint64_t *pt = child(e2);
		for (int i = 0; i < 512; i++) {
			if (pt[i] & MMU_PRESENT) {
				pt[i] = NONPRESENT;
				leaves--;
				zapped++;
			}
		}
		free_table(child_id(e2));
		pd[j] = NONPRESENT;
	}
	free_table(child_id(e3));
	pdpt[i3] = NONPRESENT;
	return zapped;
}

static void reset_tree(void)
{
	/* Return every table but a fresh root to the free list (recycled, already touched). */
	free_top = 0;
	for (uint32_t id = 0; id < pool_used; id++)
		free_list[free_top++] = pool_used - 1 - id;
	tables_live = 0;
	leaves = 0;
	root = alloc_table();
}

static uint32_t rng;
static uint32_t xorshift32(void)
{
	uint32_t x = rng;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rng = x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], 0, 0) : 1000000;
	int runs = argc > 2 ? atoi(argv[2]) : 5;
	rng = argc > 3 ? (uint32_t)strtoul(argv[3], 0, 0) : 0x9e3779b9u;
	if (!rng)
		rng = 1;
	if (n < 1 || n > GUEST_GFNS || runs < 1) {
		fprintf(stderr, "usage: paging <pages 1..16777216> <runs> <seed>\n");
		return 2;
	}

	uint32_t *perm = malloc(GUEST_GFNS * sizeof(uint32_t));
	uint32_t *order = malloc((size_t)n * sizeof(uint32_t));
	for (uint32_t i = 0; i < GUEST_GFNS; i++)
		perm[i] = i;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t j = i + xorshift32() % (GUEST_GFNS - i);
		uint32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	memcpy(order, perm, (size_t)n * sizeof(uint32_t));
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t j = xorshift32() % (i + 1);
		uint32_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	/* The PFN mapped at gfn perm[i] is PFN_BASE + i; lookups sum them up. */
	uint32_t cap = n / 16 + 70000;

	for (int r = 0; r < runs; r++) {
		double t0, t1;
		/* cold: fresh pool memory, first touch in the map loop */
		pool_init(cap);
		root = alloc_table();
		t0 = now_ms();
		for (uint32_t i = 0; i < n; i++)
			map4k(perm[i], PFN_BASE + i);
		t1 = now_ms();
		double cold_map_ms = t1 - t0;
		/* warm: the same pool, tables recycled */
		reset_tree();
		t0 = now_ms();
		for (uint32_t i = 0; i < n; i++)
			map4k(perm[i], PFN_BASE + i);
		t1 = now_ms();
		double map_ms = t1 - t0;
		double bytes_per_page = (double)tables_live * 4096.0 / n;

		uint64_t sum = 0;
		t0 = now_ms();
		for (uint32_t i = 0; i < n; i++)
			sum += lookup(order[i]);
		t1 = now_ms();
		double lookup_ms = t1 - t0;

		uint64_t seq_sum = 0;
		t0 = now_ms();
		for (uint32_t g = 0; g < GUEST_GFNS; g++)
			seq_sum += lookup(g);
		t1 = now_ms();
		double seq_ms = t1 - t0;

		double zap[16];
		uint64_t zapped = 0;
		for (int k = 0; k < 16; k++) {
			uint64_t g = (uint64_t)(k * 4 + 1) << 18; /* 1 GiB ranges 1, 5, 9, ... */
			t0 = now_ms();
			zapped += zap1g(g);
			t1 = now_ms();
			zap[k] = t1 - t0;
		}
		qsort(zap, 16, sizeof(double), cmp_double);
		double zap_ms = (zap[7] + zap[8]) / 2;

		/* one densely mapped 1 GiB range just above the guest: 262,144 leaves */
		uint64_t dense = (uint64_t)GUEST_GFNS;
		for (uint32_t i = 0; i < (1u << 18); i++)
			map4k(dense + i, PFN_BASE + i);
		t0 = now_ms();
		uint64_t dense_zapped = zap1g(dense);
		t1 = now_ms();
		double dense_ms = t1 - t0;

		printf("{\"run\":%d,\"pages\":%u,\"mapColdMs\":%.4f,\"mapMs\":%.4f,\"lookupMs\":%.4f,"
		       "\"seqLookupMs\":%.4f,\"seqGfns\":%u,\"zap1GiBMs\":%.5f,\"zap1GiBDenseMs\":%.5f,"
		       "\"bytesPerPage\":%.4f,\"checksum\":\"%llu\",\"seqChecksum\":\"%llu\","
		       "\"zappedLeaves\":%llu,\"denseZapped\":%llu}\n",
		       r, n, cold_map_ms, map_ms, lookup_ms, seq_ms, GUEST_GFNS, zap_ms, dense_ms,
		       bytes_per_page, (unsigned long long)sum, (unsigned long long)seq_sum,
		       (unsigned long long)zapped, (unsigned long long)dense_zapped);
		fflush(stdout);
		(void)dense_ms;
		pool_fini();
	}
	free(perm);
	free(order);
	return 0;
}
