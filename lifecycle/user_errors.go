package lifecycle

import "fmt"

// UserError is bad input, or a request the caller can fix: a 400 naming
// the field (when there is one) and the fix.
type UserError struct {
	field string
	msg   string
}

// Field names the field at fault, or "".
func (u *UserError) Field() string { return u.field }

func (u *UserError) Error() string {
	if u.field == "" {
		return u.msg
	}
	return u.field + ": " + u.msg
}

// BadField is a 400 about one field.
func BadField(field, format string, args ...any) error {
	return &UserError{field: field, msg: fmt.Sprintf(format, args...)}
}

// UserErr is a 400 about the request as a whole.
func UserErr(format string, args ...any) error {
	return &UserError{msg: fmt.Sprintf(format, args...)}
}
