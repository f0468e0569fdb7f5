/*
 * bench_cpu.h - the CPU time of a service run inside a bench's process
 * (bench_kafka.c), as `customsflow run` would report it on its own.
 */
#ifndef CF_BENCH_CPU_H
#define CF_BENCH_CPU_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The service's CPU time, as `customsflow run` would show in getrusage: this
 * process's CPU minus that of the threads that existed before the service
 * started (this thread, the mock broker's, the dummy handle's), which are
 * still alive when it has stopped; the service's threads have all exited and
 * their time is in RUSAGE_SELF. */
typedef struct cf_bench_cpu_mark {
        double self;  /* s, the whole process */
        double other; /* s, the threads alive at the mark */
        int tids[64], n;
} cf_bench_cpu_mark;

static inline double cf_bench_task_cpu(int tid)
{
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
        FILE *f = fopen(path, "r");
        if (!f) return 0;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *p = strrchr(buf, ')'); /* comm may hold spaces */
        unsigned long ut = 0, st = 0;
        if (!p ||
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
                return 0;
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static inline double cf_bench_self_cpu(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/** Mark the CPU time used so far and the threads alive now. */
static inline void cf_bench_cpu_mark_set(cf_bench_cpu_mark *m)
{
        m->n = 0;
        DIR *d = opendir("/proc/self/task");
        if (!d) {
                fprintf(stderr, "/proc/self/task: %s\n", strerror(errno));
                exit(1);
        }
        for (struct dirent *e; (e = readdir(d)) && m->n < 64;)
                if (e->d_name[0] != '.') m->tids[m->n++] = atoi(e->d_name);
        closedir(d);
        m->self = cf_bench_self_cpu();
        m->other = 0;
        for (int i = 0; i < m->n; i++)
                m->other += cf_bench_task_cpu(m->tids[i]);
}

/** CPU seconds the service used since m (call once its threads have exited). */
static inline double cf_bench_cpu_since(const cf_bench_cpu_mark *m)
{
        double other = 0;
        for (int i = 0; i < m->n; i++)
                other += cf_bench_task_cpu(m->tids[i]);
        return (cf_bench_self_cpu() - m->self) - (other - m->other);
}

#endif
