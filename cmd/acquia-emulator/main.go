// Command acquia-emulator serves the in-process Acquia emulator on its own,
// for `make dev`, manual testing and tests that need it in another process.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/emulator"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("acquia-emulator", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8380", "address to listen on")
	demo := fs.Bool("demo", true, "seed the demo clients (emulator.AddDemo)")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback listen address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// The emulator hands out tokens to anyone with the well-known demo
	// secrets and its admin API is unauthenticated: keep it off the network
	// unless asked.
	if !*allowRemote && !isLoopback(*listen) {
		fmt.Fprintf(os.Stderr, "acquia-emulator: refusing to listen on %q, not a loopback address; pass -allow-remote to do it anyway\n", *listen)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	e := emulator.New()
	e.SetLogger(log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds))
	if *demo {
		e.AddDemo()
	}
	url, err := e.StartOn(*listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "acquia-emulator: %v\n", err)
		return 1
	}
	fmt.Printf("acquia-emulator listening on %s\n", url)

	<-ctx.Done()
	e.Close()
	fmt.Fprintln(os.Stderr, "acquia-emulator: stopped")
	return 0
}

// isLoopback accepts literal loopback IPs and "localhost"; other names are
// refused rather than resolved, since resolution can change under us.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
