package emulator

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"time"
)

// Cloud API keys ("API tokens" in the Cloud UI), managed through the Cloud
// API with a Bearer token, as rotate-root uses them. By default each call
// answers as Acquia's published OpenAPI spec of the Cloud API shows it:
//
//	POST   /api/account/tokens         {"label"} (JSON or form) → 201 with client_id, client_secret,
//	                                   their deprecated twins api_key/api_secret, and _links whose
//	                                   self.href is the collection: no uuid
//	GET    /api/account/tokens         the user's keys: uuid, label, active, flags, created_at;
//	                                   never a client id or a secret
//	GET    /api/account/tokens/{uuid}  one of them; 404 not_found
//	DELETE /api/account/tokens/{uuid}  200; 404 unknown; 409 already revoked
//
// A revoked key stays in the list, inactive. What the spec leaves open has
// a switch each (CloudKeyVariants): a self.href naming the new key, a
// key's uuid equal to its client id, a limit on keys per user, an answer
// with only the deprecated field names. A deleted key's secret is refused
// at the token endpoint at once.

const maxKeyLabel = 255

// CloudKeyVariants are the readings of the key API that its spec leaves
// open. The zero value is the spec's reading.
type CloudKeyVariants struct {
	// SelfHrefItem: the create answer's _links.self.href names the new
	// key (…/account/tokens/{uuid}) instead of the collection.
	SelfHrefItem bool `json:"self_href_item"`
	// UUIDIsClientID: a key created through the API has its client id as
	// its uuid, so GET /api/account/tokens/{client_id} finds it.
	UUIDIsClientID bool `json:"uuid_is_client_id"`
	// KeyLimit refuses a create while the user holds this many live keys
	// (0: no limit). Acquia documents no limit and no error for it: the
	// refusal is a 400 {"error":"limit_exceeded","message":…}.
	KeyLimit int `json:"key_limit"`
	// LegacyFieldsOnly: the create answer carries api_key/api_secret and
	// not client_id/client_secret.
	LegacyFieldsOnly bool `json:"legacy_fields_only"`
}

// SetCloudKeyVariants sets how the key API answers from now on.
func (e *Emulator) SetCloudKeyVariants(v CloudKeyVariants) { store(e, &e.cloud().keyVariants, v) }

// keyJSON is a key as the API shows it: never its client id or secret.
type keyJSON struct {
	UUID       string    `json:"uuid"`
	Label      string    `json:"label"`
	Active     bool      `json:"active"`
	Revocation any       `json:"revocation"`
	Flags      keyFlags  `json:"flags"`
	CreatedAt  time.Time `json:"created_at"`
	Links      linksJSON `json:"_links"`
}

type keyFlags struct {
	Active bool `json:"active"`
}

type hrefJSON struct {
	Href string `json:"href"`
}

type linksJSON struct {
	Self hrefJSON `json:"self"`
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func keyLinks(r *http.Request, uuid string) linksJSON {
	var l linksJSON
	l.Self.Href = baseURL(r) + "/api/account/tokens/" + uuid
	return l
}

func (k *cloudKey) json(r *http.Request, uuid string) keyJSON {
	out := keyJSON{UUID: uuid, Label: k.label, Active: !k.deleted, Flags: keyFlags{Active: !k.deleted},
		CreatedAt: k.createdAt.UTC(), Links: keyLinks(r, uuid)}
	if k.deleted {
		out.Revocation = map[string]any{"revoked_at": k.deletedAt.UTC()}
	}
	return out
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

// keyLabel reads the create's label from a JSON or a form body.
func keyLabel(w http.ResponseWriter, r *http.Request) (string, bool) {
	b, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	var label *string
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(b))
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, "invalid_form", "The request body is not a form.")
			return "", false
		}
		if form.Has("label") {
			v := form.Get("label")
			label = &v
		}
	} else {
		var in struct {
			Label *string `json:"label"`
		}
		if err := json.Unmarshal(b, &in); err != nil {
			writeAPIError(w, http.StatusBadRequest, "invalid_json", "The request body is not a JSON object.")
			return "", false
		}
		label = in.Label
	}
	if label == nil || *label == "" || len(*label) > maxKeyLabel {
		writeAPIError(w, http.StatusBadRequest, "validation_failed", "label: a label of 1 to 255 characters is required.")
		return "", false
	}
	return *label, true
}

func (c *cloudService) createKey(w http.ResponseWriter, r *http.Request) {
	t, user, ok := c.apiUser(w, r)
	if !ok {
		return
	}
	label, ok := keyLabel(w, r)
	if !ok {
		return
	}

	now := c.e.now()
	c.e.mu.Lock()
	v := c.keyVariants
	if v.KeyLimit > 0 && c.liveKeysLocked(user) >= v.KeyLimit {
		c.e.mu.Unlock()
		writeAPIError(w, http.StatusBadRequest, "limit_exceeded",
			fmt.Sprintf("You have reached the limit of %d API tokens. Revoke one before creating another.", v.KeyLimit))
		return
	}
	uuid := randomUUID()
	id := randomUUID()
	if v.UUIDIsClientID {
		id = uuid
	}
	key := CloudClient{ID: id, Secret: randomCloudSecret(), KeyUUID: uuid, Label: label}
	// The new key may do what the key that asked for it may.
	if creator, ok := c.clients[t.ClientID]; ok {
		key.Orgs, key.FederatedOrgs = slices.Clone(creator.Orgs), slices.Clone(creator.FederatedOrgs)
		key.Lifetime = creator.Lifetime
	}
	c.clients[key.ID] = key
	c.keys[uuid] = &cloudKey{clientID: key.ID, label: key.Label, user: user, createdAt: now, refusals: c.propagation}
	c.e.mu.Unlock()

	base := baseURL(r)
	self := base + "/api/account/tokens"
	if v.SelfHrefItem {
		self += "/" + uuid
	}
	out := map[string]any{
		"api_key":    key.ID,
		"api_secret": key.Secret,
		"_links": map[string]any{
			"self":         hrefJSON{self},
			"parent":       hrefJSON{base + "/api/account"},
			"notification": hrefJSON{base + "/api/notifications/" + randomUUID()},
		},
	}
	if !v.LegacyFieldsOnly {
		out["client_id"], out["client_secret"] = key.ID, key.Secret
	}
	writeJSON(w, http.StatusCreated, out)
}

// liveKeysLocked counts the user's keys that are not deleted.
func (c *cloudService) liveKeysLocked(user string) int {
	n := 0
	for _, k := range c.keys {
		if k.user == user && !k.deleted {
			n++
		}
	}
	return n
}

func (c *cloudService) listKeys(w http.ResponseWriter, r *http.Request) {
	_, user, ok := c.apiUser(w, r)
	if !ok {
		return
	}
	c.e.mu.Lock()
	items := []keyJSON{}
	for uuid, k := range c.keys {
		if k.user == user {
			items = append(items, k.json(r, uuid))
		}
	}
	c.e.mu.Unlock()
	slices.SortFunc(items, func(a, b keyJSON) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.UUID, b.UUID))
	})
	writeJSON(w, http.StatusOK, map[string]any{
		"total":     len(items),
		"_links":    map[string]any{"self": hrefJSON{baseURL(r) + "/api/account/tokens"}, "parent": hrefJSON{baseURL(r) + "/api/account"}},
		"_embedded": map[string]any{"items": items},
	})
}

// apiKey serves one key: read and delete, by uuid only.
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
	case r.Method == http.MethodGet:
		status, body = http.StatusOK, k.json(r, uuid)
	case k.deleted:
		status, body = http.StatusConflict, map[string]string{"error": "conflict", "message": "The API token has already been revoked."}
	default:
		c.deleteKeyLocked(uuid)
		status, body = http.StatusOK, map[string]any{"message": "The API token has been revoked.",
			"_links": map[string]any{"self": hrefJSON{baseURL(r) + "/api/account/tokens/" + uuid}}}
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

func (c *cloudService) adminKeyPropagation(in struct {
	Refusals int `json:"refusals"`
}) (refusal string) {
	if in.Refusals < 0 {
		return "refusals must not be negative."
	}
	c.e.SetCloudKeyPropagation(in.Refusals)
	return ""
}

func (c *cloudService) adminKeyVariants(in CloudKeyVariants) (refusal string) {
	if in.KeyLimit < 0 {
		return "key_limit must not be negative."
	}
	c.e.SetCloudKeyVariants(in)
	return ""
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
