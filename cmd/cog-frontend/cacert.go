package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cog-frontend/cog-frontend/config"
)

// caCertArg is the COG_CA_CERT build arg for the frontend: --build-arg
// COG_CA_CERT if given, else the COG_CA_CERT environment variable, as
// Cog reads it. Paths are read here, on the client, because BuildKit cannot
// see the client's files; the frontend gets PEM. Nothing else is ever
// read: without COG_CA_CERT the image keeps its base's trust store, never
// this machine's.
func caCertArg(buildArgs map[string]string) (string, error) {
	v, ok := buildArgs[config.CACertVar]
	what := "--build-arg " + config.CACertVar
	if !ok {
		v, what = os.Getenv(config.CACertVar), config.CACertVar
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	fi, err := os.Stat(v)
	if err != nil {
		// Not a path: PEM text or base64 of PEM.
		if strings.HasPrefix(v, "/") || strings.HasPrefix(v, ".") {
			return "", fmt.Errorf("%s: %v; give %s", what, err, config.CACertForms)
		}
		pem, err := config.ParseCACert(v)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		return string(pem), nil
	}
	if !fi.IsDir() {
		dt, err := os.ReadFile(v)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		pem, err := config.NormalizeCACert(dt, what+" file "+v)
		return string(pem), err
	}
	// A directory: its *.crt and *.pem files, in name order.
	ents, err := os.ReadDir(v)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	var names []string
	for _, e := range ents {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if !e.IsDir() && (ext == ".crt" || ext == ".pem") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "", fmt.Errorf("%s: directory %s has no *.crt or *.pem file", what, v)
	}
	var all strings.Builder
	for _, n := range names {
		p := filepath.Join(v, n)
		dt, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		pem, err := config.NormalizeCACert(dt, what+" file "+p)
		if err != nil {
			return "", err
		}
		all.Write(pem)
	}
	return all.String(), nil
}
