package weights

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/store"
	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/opencontainers/go-digest"
)

// ArtifactsOptions configures Artifacts.
type ArtifactsOptions struct {
	ProjectDir string
	Config     *config.Config
	LockPath   string       // default <ProjectDir>/weights.lock
	Store      *store.Store // nil: store.DefaultDir
}

// Artifacts returns one Artifact per weight of cog.yaml, in cog.yaml order,
// from weights.lock. Nothing is read up front beyond a stat of each file;
// every Blob.Open streams the exact layer bytes, from the content store
// when it holds them, else from the user's files: an uncompressed layer as
// tar framing around the files' bytes, unhashed (its consumer checks the
// digest; see layerOpener), a gzip'd one by repacking deterministically,
// failing at the end of the stream if it does not hash to the locked
// digest. Drift between cog.yaml and the lock is an error that says what to
// run.
func Artifacts(ctx context.Context, opts ArtifactsOptions) ([]Artifact, error) {
	if opts.Config == nil {
		return nil, fmt.Errorf("weights: no cog.yaml configuration given")
	}
	if opts.LockPath == "" {
		opts.LockPath = filepath.Join(opts.ProjectDir, wire.LockFilename)
	}
	st, err := storeOrDefault(opts.Store)
	if err != nil {
		return nil, err
	}
	lock, raw, err := readLock(opts.LockPath)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		lock = nil // no file: say so rather than report every weight as pending
	}
	proj, err := config.ProjectLock(opts.Config, lock, opts.LockPath, wire.EnvelopeFormat)
	if err != nil {
		return nil, err
	}
	var out []Artifact
	for i, w := range opts.Config.Weights {
		a, err := artifactFor(st, opts.ProjectDir, w, proj.Weights[i])
		if err != nil {
			return nil, fmt.Errorf("weight %q: %w", w.Name, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func artifactFor(st *store.Store, projectDir string, w config.Weight, e config.LockWeight) (Artifact, error) {
	e = canonicalLockWeight(e)
	cfg, manifest, err := entryBytes(e)
	if err != nil {
		return Artifact{}, err
	}
	if d := pack.Digest(manifest); d != e.Digest {
		return Artifact{}, fmt.Errorf("weights.lock entry is inconsistent: its files and layers give manifest %s, the entry says %s: run `cog-frontend weights import`", d, e.Digest)
	}
	resolve, err := fileResolver(st, projectDir, w, e)
	if err != nil {
		return Artifact{}, err
	}
	a := Artifact{
		Name: e.Name, Target: e.Target, SetDigest: e.SetDigest, Size: e.Size, Manifest: manifest,
		Config: Blob{
			Descriptor: ocispec.Descriptor{MediaType: wire.MediaTypeWeightConfig, Digest: digest.Digest(pack.Digest(cfg)), Size: int64(len(cfg))},
			Open: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader(string(cfg))), nil
			},
		},
	}
	filesOf := map[string][]pack.File{}
	for _, f := range e.Files {
		filesOf[f.Layer] = append(filesOf[f.Layer], pack.File{Path: f.Path, Size: f.Size, Digest: f.Digest})
	}
	for _, l := range e.Layers {
		lp := pack.LayerPlan{Files: filesOf[l.Digest], MediaType: l.MediaType} // lock files are path-sorted: the tar order
		if len(lp.Files) == 0 {
			return Artifact{}, fmt.Errorf("weights.lock layer %s holds no files: run `cog-frontend weights import`", l.Digest)
		}
		desc := ocispec.Descriptor{
			MediaType: l.MediaType, Digest: digest.Digest(l.Digest), Size: l.Size,
			Annotations: map[string]string{wire.AnnotationWeightSizeUncompressed: fmt.Sprint(l.SizeUncompressed)},
		}
		a.Layers = append(a.Layers, Blob{Descriptor: desc, Open: layerOpener(st, lp, l, resolve)})
	}
	return a, nil
}

// layerOpener streams a layer from the store if present; else an
// uncompressed layer straight from its files (pack.RawLayer: no hashing, no
// pipe, seekable); else it repacks the layer, verifying file digests on the
// way and the layer digest at the end.
//
// The raw path hashes nothing, by design: a weight layer is only ever read
// by a consumer that checks its digest itself. A registry checks the
// digest of the uploaded bytes at the commit (the distribution spec's
// DIGEST_INVALID; internal/registry turns it into an error that says a
// source file changed) and the OCI layout writer hashes every blob it
// writes. The layer's bytes are a function of its files' bytes, so a
// matching layer digest also proves each file matches its locked digest.
// Hashing here too would double the CPU of a push and halve its speed on a
// busy machine. Sizes are still checked when the files are opened.
func layerOpener(st *store.Store, lp pack.LayerPlan, l config.LockLayer, resolve pack.OpenFunc) func(context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		if f, err := st.Open(l.Digest); err == nil {
			return f, nil
		}
		rl, err := pack.OpenRawLayer(ctx, lp, resolve)
		switch {
		case err == nil && rl.Size() == l.Size:
			return rl, nil
		case err == nil: // framing differs from the lock's: let the repack say how
			rl.Close()
		case !errors.Is(err, pack.ErrNotRaw):
			return nil, err
		}
		pr, pw := io.Pipe()
		go func() {
			res, err := pack.WriteLayer(ctx, lp, resolve, pw)
			if err == nil && (res.Layer.Digest != l.Digest || res.Layer.Size != l.Size) {
				err = fmt.Errorf("repacked layer is %s (%d bytes), weights.lock says %s (%d bytes): run `cog-frontend weights import`", res.Layer.Digest, res.Layer.Size, l.Digest, l.Size)
			}
			pw.CloseWithError(err)
		}()
		return pr, nil
	}
}

// fileResolver opens a weight file by path: from the store when a blob of
// its digest is there, else from the last source that provides it and
// whose patterns keep it (later sources win, as in Import). Remote files
// are downloaded into the store at the locked version and verified.
func fileResolver(st *store.Store, projectDir string, w config.Weight, e config.LockWeight) (pack.OpenFunc, error) {
	type src struct {
		norm, dir, commit string
		f                 filter
	}
	var srcs []src
	for i, s := range w.Sources {
		norm, err := config.NormalizeSourceURI(s.URI)
		if err != nil {
			return nil, err
		}
		sr := src{norm: norm, f: newFilter(s.Include, s.Exclude)}
		switch {
		case strings.HasPrefix(norm, "hf://"):
			if i < len(e.Sources) {
				sr.commit = strings.TrimPrefix(e.Sources[i].Fingerprint, "commit:")
			}
		case strings.HasPrefix(norm, "https://"):
		default:
			ls, err := sourceFor(projectDir, s)
			if err != nil {
				return nil, err
			}
			// The same symlink rule as import: a relative source stays in the project.
			if sr.dir, err = ls.(localSource).resolve(); err != nil {
				return nil, err
			}
		}
		srcs = append(srcs, sr)
	}
	return func(ctx context.Context, f pack.File) (io.ReadCloser, error) {
		if r, err := st.Open(f.Digest); err == nil {
			return r, nil
		}
		var errs []string
		for i := len(srcs) - 1; i >= 0; i-- {
			s := srcs[i]
			if !s.f.keep(f.Path) {
				continue
			}
			var p string
			var err error
			switch {
			case s.dir != "":
				p = filepath.Join(s.dir, filepath.FromSlash(f.Path))
			case strings.HasPrefix(s.norm, "https://"):
				if path.Base(s.norm) != f.Path {
					continue
				}
				p, err = downloadHTTPS(ctx, st, s.norm, f.Digest)
			default:
				repo, _ := parseHF(s.norm)
				p, err = download(ctx, st, hfEndpoint()+"/"+repo+"/resolve/"+s.commit+"/"+escapePath(f.Path), f.Digest, hfHeader())
			}
			if err == nil {
				var r *os.File
				if r, err = os.Open(p); err == nil {
					return r, nil
				}
			}
			errs = append(errs, err.Error())
		}
		return nil, fmt.Errorf("%s is in weights.lock but no source provides it (%s): restore it or run `cog-frontend weights import`", f.Path, strings.Join(errs, "; "))
	}, nil
}
