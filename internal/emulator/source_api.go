package emulator

import (
	"net/http"
)

func (s *sourceService) revocationOn() bool { return s.e.switchOn(&s.revocation) }

// revoke is RFC 7009. Unknown, expired and already revoked tokens are all
// a 200 (§2.2); another client's token is refused, since §2.1 has the
// server check the token was issued to the caller.
func (s *sourceService) revoke(w http.ResponseWriter, r *http.Request) {
	if !s.revocationOn() {
		writeAPIError(w, http.StatusNotFound, "not_found", "The requested resource was not found.")
		return
	}
	client, form, ok := revocationRequest(w, r, sourceOAuth, "This endpoint", s.authenticate, sourceInvalidRequest("token"))
	if !ok {
		return
	}
	value := form.Get("token")
	// token_type_hint only speeds up a lookup (§2.1); both stores are
	// searched whatever it says.
	s.e.mu.Lock()
	owner := ""
	if rt, ok := s.flow.refresh[value]; ok {
		owner = rt.clientID
		if owner == client.ID {
			rt.revoked = true
			s.e.revokeLocked(serviceSource, rt.access)
		}
	} else if s.refreshOnly {
		s.e.mu.Unlock()
		sourceOAuth.fail(w, r, sourceErr(http.StatusBadRequest, "unsupported_token_type",
			"The authorization server does not support the revocation of the presented token type.", ""))
		return
	} else if t, ok := s.e.tokenLocked(serviceSource, value); ok {
		owner = t.ClientID
		if owner == client.ID {
			s.e.revokeLocked(serviceSource, value)
			if g, fromUser := s.flow.access[value]; fromUser && s.cascade {
				s.flow.revokeFamily(g.family)
			}
		}
	}
	s.e.mu.Unlock()
	if owner != "" && owner != client.ID {
		sourceOAuth.fail(w, r, sourceErr(http.StatusBadRequest, "unauthorized_client", "The token was not issued to this client.", ""))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// metadata is RFC 8414; it lists the revocation endpoint only while it is
// on, which is how a client discovers whether a site has one.
func (s *sourceService) metadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, http.MethodGet)
		return
	}
	base := "http://" + r.Host
	md := map[string]any{
		"issuer":                                base,
		"authorization_endpoint":                base + "/oauth/authorize",
		"token_endpoint":                        base + "/oauth/token",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code", "client_credentials", "refresh_token"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
	}
	if s.revocationOn() {
		md["revocation_endpoint"] = base + "/oauth/revoke"
		md["revocation_endpoint_auth_methods_supported"] = []string{"client_secret_post", "client_secret_basic"}
	}
	writeJSON(w, http.StatusOK, md)
}

// jsonapi is the JSON:API entry point, enough to prove a token works and
// whose it is: the user for a code-flow token, the client otherwise.
func (s *sourceService) jsonapi(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, http.MethodGet)
		return
	}
	t, ok := s.e.bearerLive(r, serviceSource)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "invalid_token", "error_description": "The access token is missing, invalid, expired or revoked.",
		})
		return
	}
	s.e.mu.Lock()
	who := s.flow.access[t.Value].user
	s.e.mu.Unlock()
	if who == "" {
		who = t.ClientID
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"jsonapi": map[string]any{"version": "1.0"},
		"meta":    map[string]any{"links": map[string]any{"me": map[string]any{"meta": map[string]any{"id": who}}}},
	})
}
