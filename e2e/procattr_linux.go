//go:build e2e

package e2e

import "syscall"

// procAttr is how the tests start vault, vault agent and scripts/dev.
// group gives the child a process group of its own, so that a terminal's
// Ctrl-C reaches only the test binary, which then stops the child and its
// children as a group. Pdeathsig kills the child if the test binary dies
// without cleaning up (a timeout panic); it exists on Linux only.
func procAttr(group bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: group, Pdeathsig: syscall.SIGKILL}
}
