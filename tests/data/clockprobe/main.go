// A clock probe for tests/integration/test_clock_faults.py: prints, every 20 ms,
// the monotonic and the wall clock as Go's runtime sees them and, in a cgo build,
// the wall clock as libc's clock_gettime sees it (-1 without cgo), and the
// monotonic clock again (the test drops a line whose reads were far apart), in
// milliseconds.
package main

import (
	"fmt"
	"os"
	"time"
)

var cNow func() int64

func main() {
	d, err := time.ParseDuration(os.Args[1])
	if err != nil {
		panic(err)
	}
	start := time.Now()
	for time.Since(start) < d {
		mono := monotonicMs()
		c := int64(-1)
		if cNow != nil {
			c = cNow()
		}
		wall := time.Now().UnixMilli()
		fmt.Printf("%d %d %d %d\n", mono, wall, c, monotonicMs())
		time.Sleep(20 * time.Millisecond)
	}
}
