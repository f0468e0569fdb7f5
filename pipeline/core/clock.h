/*
 * clock.h - wall and monotonic clocks. Intervals, timeouts and deadlines use
 * the monotonic clock (an NTP step must not stop commits); the wall clock is
 * for timestamps people read (processed_at, logs).
 */
#ifndef CF_CLOCK_H
#define CF_CLOCK_H

#include <stdint.h>

/** Wall clock in milliseconds since the epoch (CLOCK_REALTIME). */
int64_t cf_now_ms(void);
/** Monotonic clock in milliseconds (CLOCK_MONOTONIC; arbitrary origin). */
int64_t cf_mono_ms(void);
/** Monotonic clock in seconds. */
double cf_mono_s(void);

#endif
