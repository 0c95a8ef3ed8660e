package lifecycle

import (
	"context"
	"time"
)

// tryAgain calls f, and again after each of waits while f fails with an
// error again accepts (any error, for a nil again) and ctx lasts. It
// returns f's last error.
func tryAgain(ctx context.Context, waits []time.Duration, again func(error) bool, f func() error) error {
	err := f()
	for _, wait := range waits {
		if err == nil || again != nil && !again(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		err = f()
	}
	return err
}
