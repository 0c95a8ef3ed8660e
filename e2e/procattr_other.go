//go:build e2e && !linux

package e2e

import "syscall"

// procAttr: see procattr_linux.go. Other systems (macOS, the BSDs) have no
// Pdeathsig: a test binary killed before its cleanup ran leaves its vault
// behind there, as `ps` shows.
func procAttr(group bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: group}
}
