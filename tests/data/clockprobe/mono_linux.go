package main

import (
	"syscall"
	"unsafe"
)

// monotonicMs reads CLOCK_MONOTONIC (ms) with the raw system call, so the test can
// line the probe's lines up with its own time.monotonic() (one clock per machine).
func monotonicMs() int64 {
	var t syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&t)), 0)
	return t.Sec*1000 + t.Nsec/1000000
}
