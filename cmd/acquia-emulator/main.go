// Command acquia-emulator serves the in-process Acquia emulator on its own,
// for `make dev`, manual testing and tests that need it in another process.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("acquia-emulator", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8380", "address to listen on")
	demo := fs.Bool("demo", true, "seed the demo clients (emulator.AddDemo)")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback listen address")
	browse := fs.String("browse", "", "instead of serving, open this URL as the demo user's browser would "+
		"(follow redirects, print the final status and body), e.g. an authorize URL from Vault")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *browse != "" {
		return openAsBrowser(*browse, os.Stdout)
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

// openAsBrowser plays the user in the authorization code flow: the
// emulated site approves at once, so following its redirect lands on
// Vault's callback. Only loopback URLs are opened: this is a demo tool.
func openAsBrowser(raw string, out io.Writer) int {
	u, err := url.Parse(raw)
	if err != nil || !isLoopback(net.JoinHostPort(u.Hostname(), "0")) {
		fmt.Fprintf(os.Stderr, "acquia-emulator: -browse takes a loopback http URL, got %q\n", raw)
		return 2
	}
	client := &http.Client{
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 || !isLoopback(net.JoinHostPort(req.URL.Hostname(), "0")) {
				return fmt.Errorf("not following a redirect to %s", req.URL.Host)
			}
			return nil
		},
	}
	resp, err := client.Get(raw)
	if err != nil {
		fmt.Fprintf(os.Stderr, "acquia-emulator: %v\n", err)
		return 1
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close() // read in full, or the first MiB of it
	if _, err := fmt.Fprintf(out, "%s %s\n%s\n", resp.Status, resp.Request.URL.Scheme+"://"+resp.Request.URL.Host+resp.Request.URL.Path, strings.TrimSpace(string(body))); err != nil {
		fmt.Fprintf(os.Stderr, "acquia-emulator: %v\n", err)
		return 1
	}
	if resp.StatusCode/100 != 2 {
		return 1
	}
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
