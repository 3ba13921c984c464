package pull_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/pull"
	"github.com/cog-frontend/cog-frontend/weights/pull/pulltest"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

// TestPullsABundleBuiltFromTheSpecsFacts builds a weight the way Cog's
// packer writes it, from spec §5/§6/§8 alone (not with this project's
// packer): parent directory entries first, PAX headers with atime/ctime,
// epoch times, mode 0644/0755, a level-9 gzip bundle; the config blob and
// manifest in the spec's key order. It pulls like our own.
func TestPullsABundleBuiltFromTheSpecsFacts(t *testing.T) {
	files := map[string]string{"config.json": `{"d":384}`, "tokenizer/vocab.txt": "a\nb\n", "tokenizer/sub/merges.txt": "a b\n"}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	epoch := time.Unix(0, 0)
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	dirs := map[string]bool{}
	for _, p := range paths {
		for d := p; strings.Contains(d, "/"); {
			d = d[:strings.LastIndex(d, "/")]
			dirs[d+"/"] = true
		}
	}
	var ds []string
	for d := range dirs {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	for _, d := range ds {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch, AccessTime: epoch, ChangeTime: epoch, Format: tar.FormatPAX})
	}
	for _, p := range paths {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: 0o644, Size: int64(len(files[p])), ModTime: epoch, AccessTime: epoch, ChangeTime: epoch, Format: tar.FormatPAX})
		tw.Write([]byte(files[p]))
	}
	tw.Close()
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(tarBuf.Bytes())
	zw.Close()
	layer := gz.Bytes()
	ld := digest.FromBytes(layer).String()

	var lines []string
	type cf struct {
		Path   string `json:"path"`
		Layer  string `json:"layer"`
		Size   int    `json:"size"`
		Digest string `json:"digest"`
	}
	var cfs []cf
	for _, p := range paths {
		sum := sha256.Sum256([]byte(files[p]))
		lines = append(lines, hex.EncodeToString(sum[:])+"  "+p)
		cfs = append(cfs, cf{p, ld, len(files[p]), "sha256:" + hex.EncodeToString(sum[:])})
	}
	sort.Strings(lines)
	setSum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	set := "sha256:" + hex.EncodeToString(setSum[:])
	cfg, _ := json.Marshal(struct {
		Name      string `json:"name"`
		Target    string `json:"target"`
		SetDigest string `json:"setDigest"`
		Files     []cf   `json:"files"`
	}{"minilm", "/src/weights/minilm", set, cfs})
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cog.weight.v1",` +
		`"config":{"mediaType":"application/vnd.cog.weight.config.v1+json","size":` + strconv.Itoa(len(cfg)) + `,"digest":"` + digest.FromBytes(cfg).String() + `"},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":` + strconv.Itoa(len(layer)) + `,"digest":"` + ld + `","annotations":{"run.cog.weight.size.uncompressed":"` + strconv.Itoa(len(files["config.json"])+len(files["tokenizer/vocab.txt"])+len(files["tokenizer/sub/merges.txt"])) + `"}}],` +
		`"annotations":{"run.cog.weight.name":"minilm","run.cog.weight.set-digest":"` + set + `","run.cog.weight.target":"/src/weights/minilm"}}`

	// This project's packer writes the same bytes.
	ours := pulltest.Weight("minilm", "/src/weights/minilm", want(files), pack.Options{})
	if string(ours.Manifest) != manifest || string(ours.Config) != string(cfg) {
		t.Errorf("this project's packer differs from the spec's bytes:\n%s\n%s", ours.Manifest, manifest)
	}

	e := newEnv(t)
	e.reg.PutBlob(repo, layer)
	e.reg.PutBlob(repo, cfg)
	md := e.reg.PutManifest(repo, "cog-weight.minilm."+set[7:19], "application/vnd.oci.image.manifest.v1+json", []byte(manifest))
	ws, err := pull.Resolve(context.Background(), e.src, md.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ws[0].SetDigest != set || len(ws[0].Files) != 3 {
		t.Fatalf("%+v", ws[0])
	}
	st, _ := store.Open(t.TempDir())
	f := e.fetcher()
	f.Store = st
	fetchAll(t, f, ws)
	checkStored(t, st, want(files))
}

func want(files map[string]string) map[string][]byte {
	out := map[string][]byte{}
	for p, c := range files {
		out[p] = []byte(c)
	}
	return out
}
