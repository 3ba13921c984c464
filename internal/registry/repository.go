package registry

import (
	"fmt"
	"net"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ParseRepository parses a bare repository reference (REGISTRY/PATH, no
// tag or digest). Loopback registries (localhost, 127.0.0.0/8, ::1) are
// marked insecure so they are spoken to over plain HTTP, as local
// development registries are.
func ParseRepository(s string) (name.Repository, error) {
	r, err := name.NewRepository(s)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%q is not a repository reference (REGISTRY/PATH without tag or digest, e.g. registry.example.com/acct/model): %v", s, err)
	}
	if IsLoopback(r.RegistryStr()) {
		return name.NewRepository(s, name.Insecure)
	}
	return r, nil
}

// IsLoopback reports whether host (with or without a port) is this machine.
func IsLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
