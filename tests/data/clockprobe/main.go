// A clock probe for tests/integration/test_clock_faults.py: prints, every 20 ms,
// the monotonic and the wall clock as Go's runtime sees them and, in a cgo build,
// the wall clock as libc's clock_gettime sees it (-1 without cgo), in milliseconds.
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
		c := int64(-1)
		if cNow != nil {
			c = cNow()
		}
		var ts [2]int64
		monotonic(&ts)
		fmt.Printf("%d %d %d\n", ts[0]*1000+ts[1]/1000000, time.Now().UnixMilli(), c)
		time.Sleep(20 * time.Millisecond)
	}
}
