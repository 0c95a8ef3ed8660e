package backend

import "runtime"

// A test that simulates a crash panics with a value of its own, which
// passes through the guards as a real crash would end the process; a
// runtime error (what a defect raises, and InjectPanic) is recovered.
func init() {
	passPanic = func(v any) bool {
		_, defect := v.(runtime.Error)
		return !defect
	}
}

// InjectPanic makes every guarded call whose name where matches panic, as
// a nil dereference would (guard.go); nil removes the hook.
func (b *Backend) InjectPanic(match func(where string) bool) {
	if match == nil {
		b.hook = nil
		return
	}
	b.hook = func(where string) {
		if match(where) {
			var p *struct{ n int }
			_ = p.n
		}
	}
}
