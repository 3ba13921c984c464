package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Error is a registry answer that was not one of those expected. It keeps
// the registry's own words: the diagnostics of its error body (parsed by
// go-containerregistry's transport.CheckError, which Unwrap returns) or, when
// the body is not the distribution error format, the body itself.
type Error struct {
	Method     string
	URL        string // without the query: upload URLs carry session state
	Status     int
	RetryAfter time.Duration // what the registry asked us to wait; 0 if nothing
	Body       string        // the body, when it was not structured

	err *transport.Error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	var said []string
	if e.err != nil {
		for _, d := range e.err.Errors {
			said = append(said, d.String())
		}
	}
	if len(said) == 0 && e.Body != "" {
		said = append(said, e.Body)
	}
	if len(said) > 0 {
		msg += ": " + strings.Join(said, "; ")
	}
	return msg
}

// Unwrap gives the go-containerregistry error, so callers that know
// transport.Error (and its Temporary) keep working.
func (e *Error) Unwrap() error {
	if e.err == nil {
		return nil
	}
	return e.err
}

// maxErrorBody bounds how much of an error body is kept for the message.
const maxErrorBody = 512

// checkResponse turns resp (whose body b was already read) into nil when its
// status is one of want, else into an *Error.
func checkResponse(resp *http.Response, b []byte, want ...int) error {
	for _, w := range want {
		if resp.StatusCode == w {
			return nil
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	e := &Error{Method: resp.Request.Method, URL: stripQuery(resp.Request.URL.String()), Status: resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	if te := new(transport.Error); errors.As(transport.CheckError(resp, want...), &te) {
		e.err = te
	}
	if e.err == nil || len(e.err.Errors) == 0 {
		body := strings.TrimSpace(string(b))
		if len(body) > maxErrorBody {
			body = body[:maxErrorBody] + "..."
		}
		e.Body = body
	}
	return e
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func stripQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// ErrStalled is the cause of a request abandoned by the stall watchdog.
var ErrStalled = errors.New("no bytes moved within the stall timeout")

// StatusOf is the HTTP status of a registry error, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

// Denied reports whether the registry refused our credentials or scope.
func Denied(err error) bool {
	s := StatusOf(err)
	return s == http.StatusUnauthorized || s == http.StatusForbidden
}

// Retryable reports whether err may go away by trying again.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var he *Error
	if errors.As(err, &he) {
		// A 416 on PATCH means our offset and the registry's disagree, e.g.
		// the registry was still storing the body of a request whose
		// connection dropped when we asked for the offset. The upload loop
		// asks again and continues from the registry's answer.
		offsetMismatch := he.Status == http.StatusRequestedRangeNotSatisfiable && he.Method == http.MethodPatch
		return he.Status >= 500 || he.Status == http.StatusTooManyRequests || he.Status == http.StatusRequestTimeout || offsetMismatch
	}
	if errors.Is(err, errRetryNow) {
		return true
	}
	// Before the TLS check: the ping of a plain-HTTP registry fails twice,
	// HTTPS with a TLS error and the HTTP fallback with the registry's
	// answer (e.g. 503), and that answer is what counts.
	var te *transport.Error
	if errors.As(err, &te) {
		return te.Temporary() // e.g. a token endpoint answering 503
	}
	if errors.As(err, new(*TLSError)) || errors.As(err, new(*AuthError)) {
		return false
	}
	if errors.Is(err, context.Canceled) {
		// a request cancelled by our stall watchdog, not by the caller
		return errors.Is(err, ErrStalled)
	}
	if errors.Is(err, ErrStalled) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	// A certificate or protocol problem will not go away by retrying.
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) || strings.Contains(err.Error(), "x509:") || strings.Contains(err.Error(), "HTTP response to HTTPS client") {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue)
}

// retryAfter is the wait a registry asked for in err, or 0.
func retryAfter(err error) time.Duration {
	var he *Error
	if errors.As(err, &he) {
		return he.RetryAfter
	}
	return 0
}
