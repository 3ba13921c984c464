package config

import (
	"errors"
	"strconv"
	"strings"

	"github.com/cog-frontend/cog-frontend/wire"
)

// Error is one problem found in cog.yaml or weights.lock. Callers that want
// the location (for example to map a build failure back to a line) use
// errors.As; a Parse error may join several of these with errors.Join.
type Error struct {
	Pos  Position // where the offending value was written; Line 0 when unknown
	Path string   // dotted key path, e.g. "build.run[2]"; "" for the whole file
	Msg  string   // what is wrong (got ...); what is allowed
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	if e.Path != "" && !namesPath(e.Path, e.Msg) {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// String renders "file:line:col", "file:line" or "file" depending on what
// is known, the form editors and terminals turn into links.
func (p Position) String() string {
	file := p.File
	if file == "" {
		file = wire.ConfigFilename
	}
	switch {
	case p.Line > 0 && p.Column > 0:
		return file + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column)
	case p.Line > 0:
		return file + ":" + strconv.Itoa(p.Line)
	default:
		return file
	}
}

// Errors returns every *Error inside err (which may be a joined error), in
// order. Handy for callers that report each problem separately.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		switch e := err.(type) {
		case *Error:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// problems collects errors and warnings while one file is checked, so a user
// sees every problem at once rather than one per run.
type problems struct {
	file     string
	errs     []error
	warnings []Warning
}

// fail records an error. got is the offending value as the user wrote it
// ("" to leave the "(got ...)" part out); allowed says what to do instead.
func (p *problems) fail(pos Position, path, what, got, allowed string) {
	p.errs = append(p.errs, &Error{Pos: pos, Path: path, Msg: message(what, got, allowed)})
}

func (p *problems) warn(pos Position, path, what string) {
	p.warnings = append(p.warnings, Warning{Pos: pos, Path: path, Message: what})
}

func (p *problems) err() error {
	return errors.Join(p.errs...)
}

func message(what, got, allowed string) string {
	msg := what
	if got != "" {
		msg += " (got " + got + ")"
	}
	if allowed != "" {
		msg += "; " + allowed
	}
	return msg
}

// quote renders a user value for an error message: Go-quoted so that
// invisible characters (tabs, newlines, NUL) show up, and shortened so that
// a pasted blob does not flood the terminal.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}

// String renders the warning like an error, for printing.
func (w Warning) String() string {
	s := w.Pos.String() + ": "
	if w.Path != "" && !namesPath(w.Path, w.Message) {
		s += w.Path + ": "
	}
	return s + w.Message
}

func itoa(i int) string { return strconv.Itoa(i) }

// namesPath tells messages worded as Cog words them, which name their key
// themselves (`invalid build.python_version "3.7": ...`, `deprecated field
// "predict": ...`), so the key is not printed twice.
func namesPath(path, msg string) bool {
	return strings.HasPrefix(msg, "invalid "+path+" ") || strings.HasPrefix(msg, "deprecated field "+strconv.Quote(path))
}
