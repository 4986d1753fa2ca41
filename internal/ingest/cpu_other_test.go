//go:build !unix

package ingest_test

import "time"

// selfCPU is not measured here.
func selfCPU() (time.Duration, bool) { return 0, false }
