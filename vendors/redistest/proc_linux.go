package redistest

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel stop redis-server when the test binary exits.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
