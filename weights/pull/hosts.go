package pull

// Registry mirrors in containerd's hosts.toml format, so a node can pull
// through a pull-through cache or a P2P engine's registry proxy:
//
//	<dir>/<registry host[:port]>/hosts.toml   (else <dir>/_default/hosts.toml)
//
//	server = "https://registry.example.com"     # the upstream (default: the registry itself)
//	[host."http://mirror.local:5000"]
//	  capabilities = ["pull", "resolve"]
//
// Hosts are tried in file order, then the server. "resolve" lets a host
// answer tag lookups, "pull" blob and by-digest manifest reads; a host
// without "pull" is not used by pulls at all.

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Host is one endpoint of a registry's hosts.toml.
type Host struct {
	URL          *url.URL // scheme://host[:port]
	Pull         bool
	Resolve      bool
	OverridePath bool
}

// HostsFile is a parsed hosts.toml: the mirrors in order, then the server.
type HostsFile struct {
	Path   string
	Hosts  []Host
	Server *url.URL // nil: the registry named in the reference
}

// LoadHosts reads dir/<registry>/hosts.toml, or dir/_default/hosts.toml;
// (nil, nil) when neither exists.
func LoadHosts(dir, registry string) (*HostsFile, error) {
	if dir == "" {
		return nil, nil
	}
	for _, d := range []string{hostDirName(registry), "_default"} {
		p := filepath.Join(dir, d, "hosts.toml")
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		hf, err := ParseHosts(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		hf.Path = p
		return hf, nil
	}
	return nil, nil
}

// hostDirName is containerd's directory name for a host: host:port as is.
func hostDirName(registry string) string {
	if registry == "index.docker.io" {
		return "docker.io"
	}
	return registry
}

type hostsTOML struct {
	Server string              `toml:"server"`
	Host   map[string]hostTOML `toml:"host"`
}

type hostTOML struct {
	Capabilities *[]string `toml:"capabilities"`
	OverridePath bool      `toml:"override_path"`
}

// hostHeader finds [host."URL"] table headers, to keep their file order
// (TOML tables decode into an unordered map).
var hostHeader = regexp.MustCompile(`(?m)^\s*\[\s*host\.(?:"([^"]+)"|'([^']+)')\s*\]`)

// ParseHosts parses hosts.toml bytes.
func ParseHosts(b []byte) (*HostsFile, error) {
	var t hostsTOML
	if err := toml.Unmarshal(b, &t); err != nil {
		return nil, err
	}
	hf := &HostsFile{}
	if t.Server != "" {
		u, err := endpointURL(t.Server, false)
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		hf.Server = u
	}
	var order []string
	for _, m := range hostHeader.FindAllSubmatch(b, -1) {
		k := string(m[1]) + string(m[2])
		if !slices.Contains(order, k) {
			order = append(order, k)
		}
	}
	for k := range t.Host {
		if !slices.Contains(order, k) {
			order = append(order, k)
		}
	}
	for _, k := range order {
		h, ok := t.Host[k]
		if !ok {
			continue
		}
		u, err := endpointURL(k, h.OverridePath)
		if err != nil {
			return nil, fmt.Errorf("host %q: %w", k, err)
		}
		caps := []string{"pull", "resolve", "push"}
		if h.Capabilities != nil {
			caps = *h.Capabilities
		}
		for _, c := range caps {
			if c != "pull" && c != "resolve" && c != "push" {
				return nil, fmt.Errorf("host %q: unknown capability %q (want pull, resolve or push)", k, c)
			}
		}
		hf.Hosts = append(hf.Hosts, Host{URL: u, Pull: slices.Contains(caps, "pull"), Resolve: slices.Contains(caps, "resolve"), OverridePath: h.OverridePath})
	}
	return hf, nil
}

// endpointURL accepts scheme://host[:port] with no path, or the path /v2
// (the API root containerd appends itself). A bare host means https.
func endpointURL(s string, overridePath bool) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q: want http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q names no host", s)
	}
	p := strings.TrimSuffix(u.Path, "/")
	if p != "" && p != "/v2" {
		return nil, fmt.Errorf("path %q: mirrors with a path prefix are not supported; serve the registry API at /v2 of the host", u.Path)
	}
	if overridePath && p != "/v2" {
		return nil, fmt.Errorf("override_path needs the path /v2")
	}
	u.Path = ""
	return u, nil
}
