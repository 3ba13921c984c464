package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startCPUProfile writes a CPU profile of the whole run to $COG_CPUPROFILE
// when it is set: a hidden switch for finding where a push or an import
// spends its time (`go tool pprof -top cog-frontend FILE`). The returned
// function stops it; it is a no-op without the variable.
func startCPUProfile() func() {
	p := os.Getenv("COG_CPUPROFILE")
	if p == "" {
		return func() {}
	}
	f, err := os.Create(p)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "COG_CPUPROFILE=%s: %v (continuing without a profile)\n", p, err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
