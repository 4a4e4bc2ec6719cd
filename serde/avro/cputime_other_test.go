//go:build !unix

package avro_test

import "time"

// cpuTime is not measured on this platform; the cpu-ratio metrics are NaN.
func cpuTime() time.Duration { return 0 }
