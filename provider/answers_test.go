package provider_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// answers is an AnswerRecorder keeping the last answer.
type answers struct {
	attempts
	mu   sync.Mutex
	last []string
}

func (a *answers) UpstreamAnswer(op, outcome string, status int, code string, _ time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = append(a.last, strings.Join([]string{op, outcome, http.StatusText(status), code}, "|"))
}

// A refusal's status and error code reach the recorder, scrubbed of the
// config's secret, and so does the success after it; the client is known
// by its recorder.
func TestAnswerRecorderGetsStatusAndScrubbedCode(t *testing.T) {
	srv, _ := tokenServer(t, func(n int32, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client s3cret-value","error_description":"no"}`))
			return
		}
		okToken(w)
	})
	rec := &answers{}
	c, err := provider.New(provider.Config{Provider: "oauth2", ClientID: "id", ClientSecret: "s3cret-value",
		TokenURL: srv.URL, RequestTimeout: 5 * time.Second}, provider.Options{Metrics: rec})
	if err != nil {
		t.Fatal(err)
	}
	if provider.RecorderOf(c) != provider.CallRecorder(rec) {
		t.Fatal("RecorderOf does not answer the client's recorder")
	}
	if _, err := c.Token(context.Background(), nil); err == nil {
		t.Fatal("a 401 minted a token")
	}
	if _, err := c.Token(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := []string{"token|401|Unauthorized|invalid_client [redacted]", "token|ok|OK|"}
	if strings.Join(rec.last, "\n") != strings.Join(want, "\n") {
		t.Fatalf("answers:\n%s\nwant:\n%s", strings.Join(rec.last, "\n"), strings.Join(want, "\n"))
	}
	if provider.RecorderOf(struct{}{}) != nil {
		t.Fatal("a value that is no client has a recorder")
	}
}
