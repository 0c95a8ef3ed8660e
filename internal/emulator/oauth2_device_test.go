package emulator_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// deviceStart runs a device authorization as the demo client and returns
// its device code and user code.
func deviceStart(t *testing.T, base string) (deviceCode, userCode string) {
	t.Helper()
	r := mustCall(t, "POST", base+"/oauth2/device_authorization", formType, form("client_id", emulator.DemoOAuth2ClientID,
		"client_secret", emulator.DemoOAuth2ClientSecret, "scope", "read"), "", "")
	dc, _ := r.body["device_code"].(string)
	uc, _ := r.body["user_code"].(string)
	if r.status != 200 || dc == "" || uc == "" || r.body["interval"] != float64(5) || r.body["expires_in"] != float64(600) {
		t.Fatalf("device authorization: %d %s", r.status, r.raw)
	}
	return dc, uc
}

func devicePoll(t *testing.T, base, deviceCode string, status int, code string) reply {
	t.Helper()
	r := mustCall(t, "POST", base+"/oauth2/token", formType, form("grant_type", emulator.OAuth2DeviceGrant, "device_code", deviceCode,
		"client_id", emulator.DemoOAuth2ClientID, "client_secret", emulator.DemoOAuth2ClientSecret), "", "")
	if r.status != status || (code != "" && r.body["error"] != code) {
		t.Fatalf("device poll: %d %s, want %d %s", r.status, r.raw, status, code)
	}
	return r
}

func TestOAuth2DeviceGrant(t *testing.T) {
	e, base := start(t)
	e.AddOAuth2Client(emulator.OAuth2Client{ID: "other", Secret: "other-secret"})

	// The endpoint authenticates the client and checks the scope.
	if r := mustCall(t, "POST", base+"/oauth2/device_authorization", formType, form("client_id", emulator.DemoOAuth2ClientID), "", ""); r.status != 401 {
		t.Errorf("unauthenticated device authorization: %d %s", r.status, r.raw)
	}
	if r := mustCall(t, "POST", base+"/oauth2/device_authorization", formType, form("client_id", emulator.DemoOAuth2ClientID,
		"client_secret", emulator.DemoOAuth2ClientSecret, "scope", "admin"), "", ""); r.status != 400 || r.body["error"] != "invalid_scope" {
		t.Errorf("a scope the client may not ask for: %d %s", r.status, r.raw)
	}
	if r := mustCall(t, "GET", base+"/oauth2/device_authorization", "", "", "", ""); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", r.status)
	}

	dc, uc := deviceStart(t, base)
	devicePoll(t, base, dc, 400, "authorization_pending")
	devicePoll(t, base, dc, 400, "slow_down") // sooner than the interval
	e.Advance(9 * time.Second)
	devicePoll(t, base, dc, 400, "slow_down") // the interval is 10 s now
	e.Advance(15 * time.Second)
	devicePoll(t, base, dc, 400, "authorization_pending")
	e.SetOAuth2DeviceSlowDown(true)
	e.Advance(time.Minute)
	devicePoll(t, base, dc, 400, "slow_down")
	e.SetOAuth2DeviceSlowDown(false)
	devicePoll(t, base, "nope", 400, "invalid_grant")
	// Another client's device code.
	if r := mustCall(t, "POST", base+"/oauth2/token", formType, form("grant_type", emulator.OAuth2DeviceGrant, "device_code", dc,
		"client_id", "other", "client_secret", "other-secret"), "", ""); r.status != 400 || r.body["error"] != "invalid_grant" {
		t.Errorf("another client's device code: %d %s", r.status, r.raw)
	}
	devicePoll(t, base, "", 400, "invalid_request")

	if !e.OAuth2DeviceAnswer(uc, true) || e.OAuth2DeviceAnswer(uc, false) {
		t.Fatal("the user's answer was not taken once")
	}
	e.Advance(time.Minute)
	r := devicePoll(t, base, dc, 200, "")
	if r.body["refresh_token"] == nil || r.body["access_token"] == nil {
		t.Fatalf("approved: %s", r.raw)
	}
	devicePoll(t, base, dc, 400, "invalid_grant") // used

	// Denied, then the code is spent; expired.
	dc, uc = deviceStart(t, base)
	e.OAuth2DeviceAnswer(uc, false)
	devicePoll(t, base, dc, 400, "access_denied")
	devicePoll(t, base, dc, 400, "invalid_grant")
	dc, _ = deviceStart(t, base)
	e.Advance(11 * time.Minute)
	devicePoll(t, base, dc, 400, "expired_token")

	// The admin route answers for the user.
	_, uc = deviceStart(t, base)
	if r := mustCall(t, "POST", base+"/_emulator/oauth2/device", "application/json", `{"user_code":"`+uc+`","approve":true}`, "", ""); r.status != 204 {
		t.Errorf("admin approve: %d %s", r.status, r.raw)
	}
	if r := mustCall(t, "POST", base+"/_emulator/oauth2/device", "application/json", `{"user_code":"BBBB-BBBB","approve":true}`, "", ""); r.status != 400 {
		t.Errorf("admin approve of an unknown code: %d %s", r.status, r.raw)
	}

	// The page a person opens.
	_, uc = deviceStart(t, base)
	if r := mustCall(t, "GET", base+"/oauth2/device?user_code="+uc, "", "", "", ""); r.status != 200 || !strings.Contains(r.raw, uc) {
		t.Errorf("verification page: %d %s", r.status, r.raw)
	}
	if r := mustCall(t, "POST", base+"/oauth2/device", formType, form("user_code", uc, "approve", "no"), "", ""); r.status != 200 {
		t.Errorf("deny on the page: %d %s", r.status, r.raw)
	}
	if e.OAuth2DeviceAnswer(uc, true) {
		t.Error("the page's answer was not taken")
	}
}
