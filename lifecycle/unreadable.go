package lifecycle

import "strings"

// Unreadable reports whether err is a stored entry that exists but can
// never be read because Vault's barrier cannot decrypt it. Vault's file
// storage leaves such an entry when it is killed between writing a new
// entry to a temporary file and renaming it into place: the temporary
// file then lists as a key of its own, encrypted for another key. Where
// the plugin lists a prefix and reads every entry (token records,
// authorization states), such an entry is logged and skipped: failing
// instead would break every later call on that prefix after one crash.
// The error crosses the plugin's gRPC boundary as text, so the text is
// what is matched.
func Unreadable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "decryption failed")
}
