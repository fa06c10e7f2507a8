package main

import (
	"syscall"
	"unsafe"
)

// monotonic reads CLOCK_MONOTONIC with the raw system call, so the test can line
// the probe's lines up with its own time.monotonic() (one clock per machine).
func monotonic(ts *[2]int64) {
	var t syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&t)), 0)
	ts[0], ts[1] = t.Sec, t.Nsec
}
