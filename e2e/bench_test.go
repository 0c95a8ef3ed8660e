//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/emulator"
)

// BenchmarkCredsRead measures `GET acquia/creds/<role>` through a real Vault
// against the in-process emulator. Every iteration also reads a KV v2
// secret on the same Vault: that floor is what Vault itself costs, and the
// x-kv-read metric is the creds read's cost as a multiple of it.
func BenchmarkCredsRead(b *testing.B) {
	v := startVault(b)
	v.mustCLI("secrets", "enable", "-path=kv", "kv-v2")
	v.mustCLI("kv", "put", "kv/floor", "value=x")
	v.mustCLI("write", "acquia/config/bench", "provider=cloud",
		"client_id="+emulator.DemoCloudClientID, "client_secret="+emulator.DemoCloudClientSecret,
		"token_url="+v.emu.URL()+"/api/auth/oauth/token", "api_url="+v.emu.URL()+"/api")
	v.mustCLI("write", "acquia/roles/bench", "config=bench", "ttl=60s")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	for _, par := range []int{1, 8} {
		b.Run(map[int]string{1: "serial", 8: "parallel8"}[par], func(b *testing.B) {
			var kv, creds time.Duration
			var mu sync.Mutex
			b.ResetTimer()
			work := make(chan struct{})
			var wg sync.WaitGroup
			for w := 0; w < par; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range work {
						t0 := time.Now()
						err1 := get(client, v.addr+"/v1/kv/data/floor")
						t1 := time.Now()
						err2 := get(client, v.addr+"/v1/acquia/creds/bench")
						t2 := time.Now()
						if err1 != nil || err2 != nil {
							b.Error(err1, err2) // Fatal may not be called off the benchmark goroutine
							continue
						}
						mu.Lock()
						kv += t1.Sub(t0)
						creds += t2.Sub(t1)
						mu.Unlock()
					}
				}()
			}
			for i := 0; i < b.N; i++ {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(creds.Nanoseconds())/float64(b.N), "creds-ns/read")
			b.ReportMetric(float64(kv.Nanoseconds())/float64(b.N), "kv-ns/read")
			b.ReportMetric(float64(creds)/float64(kv), "x-kv-read")
		})
	}
	// Leases from the benchmark go with the server; revoke-prefix keeps
	// the shutdown quick.
	v.mustCLI("lease", "revoke", "-prefix", "acquia/creds/bench")
}

func get(c *http.Client, url string) error {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Vault-Token", rootToken)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, buf.String())
	}
	var out struct {
		Data map[string]any `json:"data"`
	}
	if json.Unmarshal(buf.Bytes(), &out) != nil || out.Data == nil {
		return fmt.Errorf("GET %s: no data", url)
	}
	return nil
}
