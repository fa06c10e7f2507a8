//go:build cgo

package main

/*
#include <time.h>
static long long c_now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
*/
import "C"

func init() { cNow = func() int64 { return int64(C.c_now_ms()) } }
