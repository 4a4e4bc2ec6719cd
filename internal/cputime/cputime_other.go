//go:build !unix

package cputime

import "time"

// Process is not measured on this platform: it returns 0, so CPU-time
// metrics computed from it are 0 or NaN.
func Process() time.Duration { return 0 }
