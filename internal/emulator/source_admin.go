package emulator

import (
	"net/http"
)

type sourceClientJSON struct {
	ID            string   `json:"id"`
	Secret        string   `json:"secret"`
	Scopes        []string `json:"scopes"`
	RedirectURIs  []string `json:"redirect_uris"`
	Grants        []string `json:"grants"`
	NoDefaultUser bool     `json:"no_default_user"`
}

func (s *sourceService) adminAddClient(in sourceClientJSON) (refusal string) {
	valid := in.ID != "" && in.Secret != ""
	for _, u := range in.RedirectURIs {
		if _, ok := sourceRedirectURI(u); !ok {
			valid = false
		}
	}
	if !valid {
		return "id and secret are required; redirect_uris must be absolute http(s) URIs without a fragment."
	}
	s.e.AddSourceClient(SourceClient(in))
	return ""
}

func (s *sourceService) adminStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]int{
		"refresh_reuses":      s.e.SourceRefreshReuses(),
		"live_refresh_tokens": s.e.SourceRefreshTokens(),
	})
}
