package main

import "testing"

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8380": true,
		"127.1.2.3:0":    true,
		"[::1]:8380":     true,
		"localhost:8380": true,
		":8380":          false,
		"0.0.0.0:8380":   false,
		"[::]:8380":      false,
		"10.0.0.5:8380":  false,
		"example.com:80": false,
		"127.0.0.1":      false, // no port: net.Listen would refuse it anyway
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestRefusesRemoteWithoutFlag(t *testing.T) {
	if code := run([]string{"-listen", "0.0.0.0:0"}); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if code := run([]string{"-bogus"}); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
}
