// Package nospace turns "no space left on device" (and an exceeded disk
// quota) into an error that says which place is full and what to do, once,
// however many layers pass it up.
package nospace

import (
	"errors"
	"fmt"
	"syscall"
)

// Error is a write that failed because the file system of Place is full.
type Error struct {
	Place string // the directory or file whose file system is full
	Hint  string // how to free space there, e.g. "cog-frontend weights prune"
	Err   error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%v: the file system of %s is full; nothing half-written is kept: free space there", e.Err, e.Place)
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s + " and run again"
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether err is a full file system (ENOSPC or EDQUOT).
func Is(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// Explain wraps err in an *Error naming place when the file system is full
// and err does not say so already; any other error is returned as it is.
func Explain(err error, place, hint string) error {
	var e *Error
	if err == nil || !Is(err) || errors.As(err, &e) {
		return err
	}
	return &Error{Place: place, Hint: hint, Err: err}
}
