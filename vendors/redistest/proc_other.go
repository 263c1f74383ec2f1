//go:build !linux

package redistest

import "os/exec"

// dieWithParent is a no-op where the kernel offers no parent-death signal;
// set REDIS_URL there instead of relying on a started server.
func dieWithParent(*exec.Cmd) {}
