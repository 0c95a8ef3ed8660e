// Log lines an operator sees once a day per subject, however often the
// event repeats.

package lifecycle

// firstToday reports whether key is logged for the first time today.
func (e *Mount) firstToday(key string) bool {
	day := e.Now().UTC().Format("2006-01-02")
	e.expiryMu.Lock()
	defer e.expiryMu.Unlock()
	first := e.expiryLogged[key] != day
	e.expiryLogged[key] = day
	return first
}
