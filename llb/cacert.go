package llb

import (
	bkllb "github.com/moby/buildkit/client/llb"
)

// Where a custom CA goes, as in Cog's images: the distribution's local CA
// directory, and the bundle that OpenSSL, curl, apt, uv and requests read.
const (
	CACertPath   = "/usr/local/share/ca-certificates/cog-ca-cert.crt"
	CACertBundle = "/etc/ssl/certs/ca-certificates.crt"
)

// 1b. The custom CA (COG_CA_CERT), right after the environment and before
// anything that uses the network (apt, uv, build.run), so that all of them
// and the running model trust it. update-ca-certificates, where the base
// image has it, rebuilds the bundle from the distribution's CAs plus ours;
// appending as well keeps the CA trusted on bases without that tool (and a
// later ca-certificates install rebuilds the bundle with it anyway). With
// no CA nothing changes: the base image's own trust store stays as it is.
func (b *builder) caCert() error {
	if len(b.opts.CACert) == 0 {
		return nil
	}
	ca := bkllb.Scratch().File(
		bkllb.Mkfile("/cog-ca-cert.crt", 0o644, b.opts.CACert, bkllb.WithCreatedTime(b.epoch)),
		bkllb.WithCustomName("[cog] CA certificate (COG_CA_CERT)"))
	b.run("mkdir -p /usr/local/share/ca-certificates /etc/ssl/certs"+
		" && cp /tmp/cog-ca/cog-ca-cert.crt "+CACertPath+
		" && { ! command -v update-ca-certificates >/dev/null || update-ca-certificates >/dev/null; }"+
		" && cat /tmp/cog-ca/cog-ca-cert.crt >> "+CACertBundle,
		b.named("[cog] install CA certificate (COG_CA_CERT)"),
		bkllb.AddMount("/tmp/cog-ca", ca, bkllb.Readonly))
	b.setEnv("SSL_CERT_FILE", CACertBundle)
	b.setEnv("REQUESTS_CA_BUNDLE", CACertBundle)
	return nil
}
