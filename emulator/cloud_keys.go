package emulator

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"time"
)

// Cloud API keys ("API tokens" in the Cloud UI), managed through the Cloud
// API with a Bearer token, as rotate-root uses them:
//
//	POST   /api/account/tokens         {"label"} → 201 with client_id, client_secret and _links.self.href
//	GET    /api/account/tokens         the user's live keys: uuid, label, client_id; never a secret
//	GET    /api/account/tokens/{uuid}  one of them
//	DELETE /api/account/tokens/{uuid}  200; 404 unknown; 409 already revoked
//
// A key's uuid is never its client id: a client must take it from
// _links.self.href. A deleted key's secret is refused at the token
// endpoint at once.

const maxKeyLabel = 255

// keyJSON is a key as the API shows it: never its secret.
type keyJSON struct {
	UUID      string    `json:"uuid"`
	Label     string    `json:"label"`
	ClientID  string    `json:"client_id"`
	CreatedAt time.Time `json:"created_at"`
	Links     linksJSON `json:"_links"`
}

type linksJSON struct {
	Self struct {
		Href string `json:"href"`
	} `json:"self"`
}

func keyLinks(r *http.Request, uuid string) linksJSON {
	var l linksJSON
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	l.Self.Href = scheme + "://" + r.Host + "/api/account/tokens/" + uuid
	return l
}

// apiKeys serves the collection: create and list.
func (c *cloudService) apiKeys(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		c.createKey(w, r)
	case http.MethodGet:
		c.listKeys(w, r)
	default:
		methodNotAllowed(w, "GET, POST")
	}
}

func (c *cloudService) createKey(w http.ResponseWriter, r *http.Request) {
	t, user, ok := c.apiUser(w, r)
	if !ok {
		return
	}
	var in struct {
		Label *string `json:"label"`
	}
	b, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err := json.Unmarshal(b, &in); err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_json", "The request body is not a JSON object.")
		return
	}
	if in.Label == nil || *in.Label == "" || len(*in.Label) > maxKeyLabel {
		writeAPIError(w, http.StatusBadRequest, "validation_failed", "label: a label of 1 to 255 characters is required.")
		return
	}

	now := c.e.now()
	uuid := randomUUID()
	key := CloudClient{ID: randomUUID(), Secret: randomCloudSecret(), KeyUUID: uuid, Label: *in.Label}
	c.e.mu.Lock()
	// The new key may do what the key that asked for it may.
	if creator, ok := c.clients[t.ClientID]; ok {
		key.Orgs, key.FederatedOrgs = slices.Clone(creator.Orgs), slices.Clone(creator.FederatedOrgs)
		key.Lifetime = creator.Lifetime
	}
	c.clients[key.ID] = key
	c.keys[uuid] = &cloudKey{clientID: key.ID, label: key.Label, user: user, createdAt: now, refusals: c.propagation}
	c.e.mu.Unlock()

	writeJSON(w, http.StatusCreated, map[string]any{
		"client_id":     key.ID,
		"client_secret": key.Secret,
		"label":         key.Label,
		"created_at":    now.UTC(),
		"_links":        keyLinks(r, uuid),
	})
}

func (c *cloudService) listKeys(w http.ResponseWriter, r *http.Request) {
	_, user, ok := c.apiUser(w, r)
	if !ok {
		return
	}
	c.e.mu.Lock()
	items := []keyJSON{}
	for uuid, k := range c.keys {
		if k.user == user && !k.deleted {
			items = append(items, keyJSON{UUID: uuid, Label: k.label, ClientID: k.clientID, CreatedAt: k.createdAt.UTC(),
				Links: keyLinks(r, uuid)})
		}
	}
	c.e.mu.Unlock()
	slices.SortFunc(items, func(a, b keyJSON) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.UUID, b.UUID))
	})
	writeJSON(w, http.StatusOK, map[string]any{
		"total":     len(items),
		"_embedded": map[string]any{"items": items},
	})
}

// apiKey serves one key: read and delete.
func (c *cloudService) apiKey(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodDelete {
		methodNotAllowed(w, "GET, DELETE")
		return
	}
	_, user, ok := c.apiUser(w, r)
	if !ok {
		return
	}
	uuid := r.PathValue("uuid")
	c.e.mu.Lock()
	k, found := c.keys[uuid]
	// Another user's key is not found, as it would not be upstream.
	found = found && k.user == user
	var status int
	var body any
	switch {
	case !found:
		status, body = http.StatusNotFound, map[string]string{"error": "not_found", "message": "The API token does not exist."}
	case k.deleted:
		status, body = http.StatusConflict, map[string]string{"error": "conflict", "message": "The API token has already been revoked."}
	case r.Method == http.MethodGet:
		status, body = http.StatusOK, keyJSON{UUID: uuid, Label: k.label, ClientID: k.clientID, CreatedAt: k.createdAt.UTC(), Links: keyLinks(r, uuid)}
	default:
		c.deleteKeyLocked(uuid)
		status, body = http.StatusOK, map[string]string{"message": "The API token has been revoked."}
	}
	c.e.mu.Unlock()
	writeJSON(w, status, body)
}

// randomCloudSecret is shaped like a real Cloud secret: base64, so it
// holds = and usually + or /.
func randomCloudSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isUUID(s string) bool { return uuidPattern.MatchString(s) }

func (c *cloudService) adminKeyPropagation(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Refusals int `json:"refusals"`
	}
	if !decodeAdmin(w, r, &in) {
		return
	}
	if in.Refusals < 0 {
		writeAPIError(w, http.StatusBadRequest, "validation_failed", "refusals must not be negative.")
		return
	}
	c.e.SetCloudKeyPropagation(in.Refusals)
	w.WriteHeader(http.StatusNoContent)
}

// adminKeys lists every key, deleted ones included, without secrets.
func (c *cloudService) adminKeys(w http.ResponseWriter, r *http.Request) {
	type adminKey struct {
		UUID      string    `json:"uuid"`
		ClientID  string    `json:"client_id"`
		Label     string    `json:"label"`
		CreatedAt time.Time `json:"created_at"`
		Deleted   bool      `json:"deleted"`
	}
	c.e.mu.Lock()
	out := make([]adminKey, 0, len(c.keys))
	for uuid, k := range c.keys {
		out = append(out, adminKey{UUID: uuid, ClientID: k.clientID, Label: k.label, CreatedAt: k.createdAt.UTC(), Deleted: k.deleted})
	}
	c.e.mu.Unlock()
	slices.SortFunc(out, func(a, b adminKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.UUID, b.UUID))
	})
	writeJSON(w, http.StatusOK, out)
}
