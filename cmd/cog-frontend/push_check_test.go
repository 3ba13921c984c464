package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// basicRegistry is the part of a registry the push check talks to, with
// basic auth user:pass; it counts cancelled uploads.
func basicRegistry(t *testing.T, deleted *atomic.Int32) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "pass" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case r.URL.Path == "/v2/":
		case r.Method == http.MethodPost && r.URL.Path == "/v2/team/model/blobs/uploads/":
			w.Header().Set("Location", "/v2/team/model/blobs/uploads/u1")
			w.WriteHeader(http.StatusAccepted)
		case r.Method == http.MethodDelete && r.URL.Path == "/v2/team/model/blobs/uploads/u1":
			deleted.Add(1)
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

type staticKeychain struct{ user, pass string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}

func TestPushCheckAcceptsAndCancelsTheUpload(t *testing.T) {
	var deleted atomic.Int32
	ref := mustTag(t, basicRegistry(t, &deleted)+"/team/model:v1")
	if err := checkPushAccess(context.Background(), ref, staticKeychain{"user", "pass"}, http.DefaultTransport); err != nil {
		t.Fatal(err)
	}
	if deleted.Load() != 1 {
		t.Errorf("the check's upload was not cancelled")
	}
}

func TestPushCheckNamesRefusedCredentials(t *testing.T) {
	var deleted atomic.Int32
	reg := basicRegistry(t, &deleted)
	ref := mustTag(t, reg+"/team/model:v1")
	err := checkPushAccess(context.Background(), ref, staticKeychain{"user", "wrong"}, http.DefaultTransport)
	if err == nil || !strings.Contains(err.Error(), "refuses a push to "+reg+"/team/model") || !strings.Contains(err.Error(), "docker login "+reg) {
		t.Errorf("err = %v, want the refusal and docker login", err)
	}
}

func TestPushCheckNamesAnUnreachableRegistry(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	ref := mustTag(t, addr+"/team/model:v1")
	err = checkPushAccess(context.Background(), ref, staticKeychain{}, http.DefaultTransport)
	if err == nil || !strings.Contains(err.Error(), "cannot reach registry "+addr) || !strings.Contains(err.Error(), "nothing was built") {
		t.Errorf("err = %v, want it to say the registry cannot be reached", err)
	}
}
