/*
 * malloc_conf.c - jemalloc's defaults, compiled into every binary that links
 * it (CMake cf_link_allocator: customsflow and the benchmarks; not the ASan
 * or fuzz builds, which bring their own allocator).
 *
 * Why: transparent huge pages for jemalloc's extents. On a VM where a page
 * fault is expensive (this project's CI and benchmark machine, 2026-12-01:
 * perf put a quarter of a restore's time in the page-fault path, and memset
 * and memmove on fresh pages another quarter), 4 KiB faults dominated the
 * state's big tables and the producer's buffers: measured side by side on
 * that machine, `bench/kafka_cpu.sh 200000 64 3` 21.1 -> 11.6 CPU-s per 1M
 * records (medians), `bench_state` restore of 1M keys 11.2 -> 4.9 s; the
 * cost is resident memory (max RSS of the Kafka run 315-335 -> 332-360 MB).
 * Only where the kernel allows it: THP "madvise" (Debian's default) or
 * "always", not "never". Decay is left at jemalloc's default so that freed
 * memory still goes back to the system.
 *
 * MALLOC_CONF in the environment overrides any of it (jemalloc reads this
 * string first, then the environment): `MALLOC_CONF=thp:default` restores
 * jemalloc's own behaviour. README § Memory.
 */
const char *malloc_conf = "thp:always,metadata_thp:auto";
