package config

import (
	"net/url"
	"path"
	"regexp"
	"strings"
)

const uriAllowed = "use a project-relative path (weights/minilm), file://./path, file:///abs/path, hf://org/repo[@revision] or https://host/file"

var hfNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`)

// NormalizeSourceURI returns the lockfile form of a weight source URI
// (weights-v1 §10): local paths become file://./<clean relative path> or
// file:///<clean absolute path> (the project directory itself and paths
// escaping it with ".." are refused), huggingface:// becomes hf:// and a
// trailing @main is dropped, https:// URLs are kept as they are.
func NormalizeSourceURI(uri string) (string, error) {
	if uri == "" {
		return "", uriError("source uri is empty", uri)
	}
	if hasControl(uri) || strings.Contains(uri, "\\") {
		return "", uriError("source uri contains a backslash or a control character", uri)
	}
	scheme, rest, hasScheme := strings.Cut(uri, "://")
	if !hasScheme {
		return normalizeLocal(uri, uri)
	}
	switch strings.ToLower(scheme) {
	case "file":
		return normalizeLocal(rest, uri)
	case "hf", "huggingface":
		return normalizeHF(rest, uri)
	case "https":
		return normalizeHTTPS(uri)
	case "http":
		return "", uriError("plain http:// sources are not allowed (downloads must be authenticated by TLS)", uri)
	default:
		return "", uriError("unknown source scheme "+quote(scheme+"://"), uri)
	}
}

func uriError(what, uri string) error {
	got := ""
	if uri != "" {
		got = quote(uri)
	}
	return errorString(message(what, got, uriAllowed))
}

func normalizeLocal(p, uri string) (string, error) {
	if p == "" {
		return "", uriError("source path is empty", uri)
	}
	if strings.HasPrefix(p, "/") {
		c := path.Clean(p)
		if c == "/" {
			return "", uriError("source cannot be the root directory", uri)
		}
		return "file://" + c, nil
	}
	c := path.Clean(p)
	switch {
	case c == ".":
		return "", uriError("source cannot be the project directory itself (cog.yaml and the code would be packed as weights)", uri)
	case c == ".." || strings.HasPrefix(c, "../"):
		return "", uriError("source path leaves the project directory", uri)
	}
	return "file://./" + c, nil
}

func normalizeHF(rest, uri string) (string, error) {
	repo, rev, hasRev := strings.Cut(rest, "@")
	org, name, ok := strings.Cut(repo, "/")
	if !ok || !hfNameRE.MatchString(org) || !hfNameRE.MatchString(name) || strings.Contains(org+name, "..") {
		return "", uriError("a Hugging Face source must be hf://org/repo", uri)
	}
	if hasRev && (rev == "" || strings.ContainsAny(rev, " @") || hasControl(rev)) {
		return "", uriError("the revision after @ is empty or malformed", uri)
	}
	out := "hf://" + org + "/" + name
	if hasRev && rev != "main" {
		out += "@" + rev
	}
	return out, nil
}

func normalizeHTTPS(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" || u.User != nil {
		return "", uriError("not a valid https URL (credentials in the URL are not allowed)", uri)
	}
	return uri, nil
}
