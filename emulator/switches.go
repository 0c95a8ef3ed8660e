package emulator

import "net/http"

// A switch is one of a service's on/off settings: Source's deny and
// revocation, Cloud's Okta-shaped errors, Acronis' expires_in. Each has
// an exported setter and an admin route taking {"on": bool}; both, and
// every read, go through here.

// setSwitch sets the switch at p, a field of a service's state.
func (e *Emulator) setSwitch(p *bool, on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	*p = on
}

// switchOn reads the switch at p.
func (e *Emulator) switchOn(p *bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return *p
}

// adminSwitch serves an admin route whose body is {"on": bool}, handing
// the value to set, the switch's exported setter.
func adminSwitch(set func(on bool)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			On bool `json:"on"`
		}
		if !decodeAdmin(w, r, &in) {
			return
		}
		set(in.On)
		w.WriteHeader(http.StatusNoContent)
	}
}
