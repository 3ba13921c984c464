package config

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"
)

// CACertVar names a custom certificate authority for the build and the
// image, as Cog's COG_CA_CERT does. The frontend reads it as a build arg
// holding PEM text or base64 of PEM; the CLI also accepts a file or a
// directory there and passes their content on.
const CACertVar = "COG_CA_CERT"

// CACertForms says what COG_CA_CERT may hold, for error messages.
const CACertForms = "a PEM file, a directory of *.crt/*.pem files, PEM text, or base64 of PEM"

// ParseCACert reads COG_CA_CERT's inline forms: PEM text, or base64 of PEM.
// It returns the certificates re-encoded as PEM (comments and other text
// between them dropped), and an error unless there is at least one and each
// parses as an X.509 certificate.
func ParseCACert(value string) ([]byte, error) {
	v := strings.TrimSpace(value)
	if !strings.Contains(v, "-----BEGIN") {
		dt, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v), ""))
		if err != nil || !bytes.Contains(dt, []byte("-----BEGIN")) {
			return nil, fmt.Errorf("%s is neither PEM (-----BEGIN CERTIFICATE-----) nor base64 of PEM; give %s", CACertVar, CACertForms)
		}
		v = string(dt)
	}
	return NormalizeCACert([]byte(v), CACertVar)
}

// NormalizeCACert checks that dt holds PEM certificates and re-encodes them;
// what names their origin in errors (a file path, COG_CA_CERT).
func NormalizeCACert(dt []byte, what string) ([]byte, error) {
	var out bytes.Buffer
	n := 0
	for {
		var blk *pem.Block
		blk, dt = pem.Decode(dt)
		if blk == nil {
			if bytes.Contains(dt, []byte("-----BEGIN")) {
				return nil, fmt.Errorf("%s: PEM block %d is incomplete (no matching -----END line)", what, n+1)
			}
			break
		}
		n++
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: PEM block %d is %q, not a CERTIFICATE; give only the CA's certificate, never a key", what, n, blk.Type)
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return nil, fmt.Errorf("%s: certificate %d does not parse: %v", what, n, err)
		}
		_ = pem.Encode(&out, &pem.Block{Type: blk.Type, Bytes: blk.Bytes})
	}
	if n == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----); give %s", what, CACertForms)
	}
	return out.Bytes(), nil
}
