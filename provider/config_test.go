package provider

import "testing"

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost":        true,
		"LocalHost":        true,
		"127.0.0.1":        true,
		"127.1.2.3":        true,
		"::1":              true,
		"::ffff:127.0.0.1": true, // IPv4-mapped loopback still reaches this machine
		"":                 false,
		"0.0.0.0":          false,
		"::":               false,
		"10.0.0.5":         false,
		"example.com":      false,
		"localhost.evil":   false, // a name is never resolved, only "localhost" itself
		"127.0.0.1.nip.io": false,
		"[::1]":            false, // a URL's Hostname() has no brackets
		"127.0.0.1:8200":   false, // a host, not host:port
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}
