package exporter

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cog-frontend/cog-frontend/internal/atomicfile"
	"github.com/cog-frontend/cog-frontend/internal/ctxio"
	"github.com/cog-frontend/cog-frontend/wire"
)

// layoutIndex is the layout's index.json: the bundle index under tag, and,
// mirroring the registry placement, the first image under cog-image.<tag>
// and each weight under its cog-weight.* tag.
func (b *Bundle) layoutIndex(tag string) ([]byte, error) {
	withRef := func(d ocispec.Descriptor, ref string) ocispec.Descriptor {
		a := map[string]string{}
		for k, v := range d.Annotations {
			a[k] = v
		}
		a[ocispec.AnnotationRefName] = ref
		d.Annotations = a
		return d
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	idx.Manifests = append(idx.Manifests, withRef(b.Index, tag), withRef(b.Images[0], wire.ImageTag(tag)))
	for i, w := range b.Weights {
		idx.Manifests = append(idx.Manifests, withRef(b.WeightDescs[i], wire.WeightTag(w.Name, w.SetDigest)))
	}
	return json.Marshal(idx)
}

var ociLayoutFile = []byte(`{"imageLayoutVersion":"1.0.0"}`)

// WriteLayout writes the bundle as an OCI image-layout directory at dest.
// It builds the new layout in a sibling temporary directory and renames it
// into place, so dest is either the old layout or the complete new one.
// Blobs already present in an existing layout at dest are hard-linked (or
// copied) rather than fetched again. Every blob is verified against its
// digest before it becomes visible.
func WriteLayout(ctx context.Context, b *Bundle, dest, tag string) error {
	if err := ValidateUserTag(tag); err != nil {
		return err
	}
	dest = filepath.Clean(dest)
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	if fi, err := os.Stat(dest); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("output %s exists and is not a directory; remove it or choose another dest", dest)
		}
		if _, err := os.Stat(filepath.Join(dest, ocispec.ImageLayoutFile)); err != nil {
			if ents, _ := os.ReadDir(dest); len(ents) > 0 {
				return fmt.Errorf("output %s exists, is not empty and is not an OCI layout; refusing to replace it", dest)
			}
		}
	}
	tmp := dest + ".tmp-" + randHex()
	if err := os.MkdirAll(filepath.Join(tmp, "blobs", "sha256"), 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	blobs, manifests, err := b.contents(ctx)
	if err != nil {
		return err
	}
	all := append(append(blobs, manifests...), node{desc: b.Index, bytes: b.IndexBytes})
	for _, n := range all {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := writeLayoutBlob(ctx, tmp, dest, n); err != nil {
			return err
		}
	}
	idx, err := b.layoutIndex(tag)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(tmp, "index.json"), idx, 0o644); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(tmp, ocispec.ImageLayoutFile), ociLayoutFile, 0o644); err != nil {
		return err
	}
	old := ""
	if _, err := os.Stat(dest); err == nil {
		old = dest + ".old-" + randHex()
		if err := os.Rename(dest, old); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dest); err != nil {
		if old != "" {
			_ = os.Rename(old, dest)
		}
		return err
	}
	syncDir(filepath.Dir(dest))
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

func blobPath(root string, d digest.Digest) string {
	return filepath.Join(root, "blobs", d.Algorithm().String(), d.Encoded())
}

func writeLayoutBlob(ctx context.Context, tmp, prev string, n node) error {
	if err := n.desc.Digest.Validate(); err != nil {
		return err
	}
	dst := blobPath(tmp, n.desc.Digest)
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	// Reuse a blob of the layout being replaced: content-addressed, so a
	// size match plus the name is enough (it was verified when written).
	if fi, err := os.Stat(blobPath(prev, n.desc.Digest)); err == nil && fi.Size() == n.desc.Size {
		if os.Link(blobPath(prev, n.desc.Digest), dst) == nil {
			return nil
		}
	}
	rc, err := n.reader(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	part := dst + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	v := n.desc.Digest.Verifier()
	written, err := io.Copy(io.MultiWriter(f, v), ctxio.Reader(ctx, rc))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(part)
		return fmt.Errorf("write blob %s: %w", n.desc.Digest, err)
	}
	if written != n.desc.Size || !v.Verified() {
		os.Remove(part)
		return fmt.Errorf("blob %s: content does not match its descriptor (%d bytes read, %d expected)", n.desc.Digest, written, n.desc.Size)
	}
	return os.Rename(part, dst)
}

// WriteTar writes the bundle as an OCI layout tar archive at dest (the same
// content as WriteLayout, entries in a fixed order with zeroed times, so the
// same bundle gives the same bytes). Written to a temporary file in dest's
// directory, fsynced and renamed into place.
func WriteTar(ctx context.Context, b *Bundle, dest, tag string) error {
	if err := ValidateUserTag(tag); err != nil {
		return err
	}
	dir := filepath.Dir(filepath.Clean(dest))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return atomicfile.Write(dest, 0o644, func(w io.Writer) error { return writeTarTo(ctx, b, w, tag) })
}

func writeTarTo(ctx context.Context, b *Bundle, w io.Writer, tag string) error {
	blobs, manifests, err := b.contents(ctx)
	if err != nil {
		return err
	}
	all := append(append(blobs, manifests...), node{desc: b.Index, bytes: b.IndexBytes})
	sort.SliceStable(all, func(i, j int) bool { return all[i].desc.Digest < all[j].desc.Digest })
	idx, err := b.layoutIndex(tag)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0).UTC()
	hdr := func(name string, size int64, dir bool) *tar.Header {
		h := &tar.Header{Name: name, Size: size, Mode: 0o644, ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if dir {
			h.Mode, h.Typeflag, h.Size = 0o755, tar.TypeDir, 0
		}
		return h
	}
	put := func(name string, data []byte) error {
		if err := tw.WriteHeader(hdr(name, int64(len(data)), false)); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := put(ocispec.ImageLayoutFile, ociLayoutFile); err != nil {
		return err
	}
	if err := put("index.json", idx); err != nil {
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(hdr(d, 0, true)); err != nil {
			return err
		}
	}
	var last digest.Digest
	for _, n := range all {
		if n.desc.Digest == last {
			continue
		}
		last = n.desc.Digest
		if n.desc.Digest.Algorithm() != digest.SHA256 {
			return fmt.Errorf("blob %s: only sha256 blobs can be written", n.desc.Digest)
		}
		if err := tw.WriteHeader(hdr("blobs/sha256/"+n.desc.Digest.Encoded(), n.desc.Size, false)); err != nil {
			return err
		}
		rc, err := n.reader(ctx)
		if err != nil {
			return err
		}
		v := n.desc.Digest.Verifier()
		written, err := io.Copy(io.MultiWriter(tw, v), io.LimitReader(ctxio.Reader(ctx, rc), n.desc.Size+1))
		rc.Close()
		if err != nil {
			return fmt.Errorf("write blob %s: %w", n.desc.Digest, err)
		}
		if written != n.desc.Size || !v.Verified() {
			return fmt.Errorf("blob %s: content does not match its descriptor (%d bytes read, %d expected)", n.desc.Digest, written, n.desc.Size)
		}
	}
	return tw.Close()
}

func randHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// IsTarDest reports whether an output dest names an OCI tar archive.
func IsTarDest(dest string) bool { return strings.HasSuffix(strings.ToLower(dest), ".tar") }
