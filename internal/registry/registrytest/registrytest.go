// Package registrytest is an in-memory OCI distribution registry for unit
// tests of the registry client and its users. go-containerregistry's
// pkg/registry lacks what resumable uploads need (upload status, chunk
// limits, partial chunks kept on a dropped connection), so this small
// handler has them, plus hooks to inject faults.
package registrytest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
)

// Registry is the handler. Set its fields before serving.
type Registry struct {
	// ChunkMin and ChunkMax, when set, are sent as OCI-Chunk-Min/Max-Length
	// and enforced on PATCH.
	ChunkMin, ChunkMax int64
	// NoChunked refuses PATCH with 405, as registries without chunked
	// uploads do.
	NoChunked bool
	// UploadBase, when set, is the scheme://host upload Locations point at
	// (a storage host); otherwise Locations are relative.
	UploadBase string
	// User and Password, when set, are required (Basic auth) on requests
	// this handler serves.
	User, Password string
	// DenyPull lists repositories the credentials may not read: a mount
	// from one of them is answered 403.
	DenyPull map[string]bool
	// DropPatchAfter, when > 0, makes the next PATCH keep this many bytes
	// and then drop the connection, once.
	DropPatchAfter int64
	// Before, when set, sees every request first; it returns true when it
	// answered the request itself.
	Before func(w http.ResponseWriter, r *http.Request) bool

	mu        sync.Mutex
	blobs     map[digest.Digest][]byte
	repoBlobs map[string]map[digest.Digest]bool
	manifests map[string]map[string]manifest
	uploads   map[string]*session
	log       []string

	storageAuth []string
}

type manifest struct {
	mediaType string
	raw       []byte
}

type session struct {
	repo string
	data []byte
}

// New returns an empty registry.
func New() *Registry { return &Registry{} }

// Serve starts r on a test server closed when the test ends.
func Serve(t interface{ Cleanup(func()) }, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// Host is the host:port of a test server.
func Host(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

func (r *Registry) init() {
	if r.blobs == nil {
		r.blobs = map[digest.Digest][]byte{}
		r.repoBlobs = map[string]map[digest.Digest]bool{}
		r.manifests = map[string]map[string]manifest{}
		r.uploads = map[string]*session{}
	}
}

// Blob returns the content of d in repo, if it is there.
func (r *Registry) Blob(repo string, d digest.Digest) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	if !r.repoBlobs[repo][d] {
		return nil, false
	}
	return r.blobs[d], true
}

// PutBlob stores b in repo and returns its digest.
func (r *Registry) PutBlob(repo string, b []byte) digest.Digest {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	return r.putBlob(repo, b)
}

func (r *Registry) putBlob(repo string, b []byte) digest.Digest {
	d := digest.FromBytes(b)
	r.blobs[d] = append([]byte(nil), b...)
	if r.repoBlobs[repo] == nil {
		r.repoBlobs[repo] = map[digest.Digest]bool{}
	}
	r.repoBlobs[repo][d] = true
	return d
}

// Manifest returns what ref (tag or digest) holds in repo.
func (r *Registry) Manifest(repo, ref string) ([]byte, string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	m, ok := r.manifests[repo][ref]
	return m.raw, m.mediaType, ok
}

// Log is every request served, as "METHOD /path".
func (r *Registry) Log() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// Count is how many logged requests start with prefix.
func (r *Registry) Count(prefix string) int {
	n := 0
	for _, l := range r.Log() {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// WriteError answers with the distribution error format.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.init()
	r.log = append(r.log, req.Method+" "+req.URL.Path)
	r.mu.Unlock()
	if r.User != "" {
		if u, p, ok := req.BasicAuth(); !ok || u != r.User || p != r.Password {
			w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
			WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		}
	}
	r.serve(w, req)
}

// Storage is the handler of a storage host that upload Locations point at
// (set UploadBase to its URL): it serves the same registry without asking
// for credentials, and remembers every Authorization header it was sent.
func (r *Registry) Storage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.init()
		r.log = append(r.log, "storage "+req.Method+" "+req.URL.Path)
		if a := req.Header.Get("Authorization"); a != "" {
			r.storageAuth = append(r.storageAuth, a)
		}
		r.mu.Unlock()
		r.serve(w, req)
	})
}

// StorageAuth lists the Authorization headers the storage host was sent.
func (r *Registry) StorageAuth() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.storageAuth...)
}

func (r *Registry) serve(w http.ResponseWriter, req *http.Request) {
	if r.Before != nil && r.Before(w, req) {
		return
	}
	p := req.URL.Path
	if p == "/v2/" || p == "/v2" {
		w.WriteHeader(http.StatusOK)
		return
	}
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		http.NotFound(w, req)
		return
	}
	for _, kind := range []string{"/blobs/uploads/", "/blobs/uploads", "/blobs/", "/manifests/"} {
		if i := strings.LastIndex(rest, kind); i > 0 {
			repo, arg := rest[:i], rest[i+len(kind):]
			switch kind {
			case "/blobs/uploads/", "/blobs/uploads":
				r.serveUpload(w, req, repo, arg)
			case "/blobs/":
				r.serveBlob(w, req, repo, digest.Digest(arg))
			default:
				r.serveManifest(w, req, repo, arg)
			}
			return
		}
	}
	http.NotFound(w, req)
}

func (r *Registry) serveBlob(w http.ResponseWriter, req *http.Request, repo string, d digest.Digest) {
	b, ok := r.Blob(repo, d)
	if !ok {
		WriteError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown to registry")
		return
	}
	w.Header().Set("Docker-Content-Digest", d.String())
	start := int64(0)
	if rg := req.Header.Get("Range"); rg != "" {
		s, e, _ := strings.Cut(strings.TrimPrefix(rg, "bytes="), "-")
		start, _ = strconv.ParseInt(s, 10, 64)
		if start > int64(len(b)) {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		end := int64(len(b)) - 1
		if n, err := strconv.ParseInt(e, 10, 64); err == nil && n < end {
			end = n
		}
		total := len(b)
		b = b[:end+1]
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, total))
		w.Header().Set("Content-Length", strconv.Itoa(len(b)-int(start)))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	}
	if req.Method == http.MethodGet {
		_, _ = w.Write(b[start:])
	}
}

func (r *Registry) location(repo, id string) string {
	return r.UploadBase + "/v2/" + repo + "/blobs/uploads/" + id + "?state=opaque"
}

func (r *Registry) sessionHeaders(w http.ResponseWriter, repo, id string, n int) {
	w.Header().Set("Location", r.location(repo, id))
	w.Header().Set("Docker-Upload-UUID", id)
	end := n - 1
	if end < 0 {
		end = 0
	}
	w.Header().Set("Range", fmt.Sprintf("0-%d", end))
	if r.ChunkMin > 0 {
		w.Header().Set("OCI-Chunk-Min-Length", strconv.FormatInt(r.ChunkMin, 10))
	}
	if r.ChunkMax > 0 {
		w.Header().Set("OCI-Chunk-Max-Length", strconv.FormatInt(r.ChunkMax, 10))
	}
}

func (r *Registry) serveUpload(w http.ResponseWriter, req *http.Request, repo, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Method == http.MethodPost {
		q := req.URL.Query()
		if m, from := digest.Digest(q.Get("mount")), q.Get("from"); m != "" && from != "" {
			if r.DenyPull[from] {
				WriteError(w, http.StatusForbidden, "DENIED", "requested access to the resource is denied")
				return
			}
			if r.repoBlobs[from][m] {
				r.putBlob(repo, r.blobs[m])
				w.Header().Set("Location", "/v2/"+repo+"/blobs/"+m.String())
				w.WriteHeader(http.StatusCreated)
				return
			}
		}
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		r.uploads[id] = &session{repo: repo}
		r.sessionHeaders(w, repo, id, 0)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	s := r.uploads[id]
	if s == nil || s.repo != repo {
		WriteError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
		return
	}
	switch req.Method {
	case http.MethodGet:
		r.sessionHeaders(w, repo, id, len(s.data))
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		delete(r.uploads, id)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPatch:
		if r.NoChunked {
			WriteError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "chunked uploads are not supported")
			return
		}
		if cr := req.Header.Get("Content-Range"); cr != "" {
			st, _, _ := strings.Cut(cr, "-")
			if n, err := strconv.Atoi(st); err != nil || n != len(s.data) {
				w.Header().Set("Range", fmt.Sprintf("0-%d", max(len(s.data)-1, 0)))
				WriteError(w, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", fmt.Sprintf("chunk starts at %s, upload is at %d", st, len(s.data)))
				return
			}
		}
		if r.ChunkMax > 0 && req.ContentLength > r.ChunkMax {
			WriteError(w, http.StatusRequestedRangeNotSatisfiable, "SIZE_INVALID", "chunk over OCI-Chunk-Max-Length")
			return
		}
		if r.DropPatchAfter > 0 {
			n := r.DropPatchAfter
			r.DropPatchAfter = 0
			b, _ := io.ReadAll(io.LimitReader(req.Body, n))
			s.data = append(s.data, b...)
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		}
		b, err := io.ReadAll(req.Body)
		s.data = append(s.data, b...)
		if err != nil {
			return
		}
		r.sessionHeaders(w, repo, id, len(s.data))
		w.WriteHeader(http.StatusAccepted)
	case http.MethodPut:
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		s.data = append(s.data, b...)
		want := digest.Digest(req.URL.Query().Get("digest"))
		if got := digest.FromBytes(s.data); got != want {
			WriteError(w, http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("provided digest %s does not match content %s", want, got))
			return
		}
		delete(r.uploads, id)
		r.putBlob(repo, s.data)
		w.Header().Set("Docker-Content-Digest", want.String())
		w.WriteHeader(http.StatusCreated)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (r *Registry) serveManifest(w http.ResponseWriter, req *http.Request, repo, ref string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch req.Method {
	case http.MethodPut:
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		m := manifest{mediaType: req.Header.Get("Content-Type"), raw: b}
		if r.manifests[repo] == nil {
			r.manifests[repo] = map[string]manifest{}
		}
		d := digest.FromBytes(b)
		r.manifests[repo][ref] = m
		r.manifests[repo][d.String()] = m
		w.Header().Set("Docker-Content-Digest", d.String())
		w.WriteHeader(http.StatusCreated)
	case http.MethodGet, http.MethodHead:
		m, ok := r.manifests[repo][ref]
		if !ok {
			WriteError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
			return
		}
		w.Header().Set("Content-Type", m.mediaType)
		w.Header().Set("Docker-Content-Digest", digest.FromBytes(m.raw).String())
		w.Header().Set("Content-Length", strconv.Itoa(len(m.raw)))
		w.WriteHeader(http.StatusOK)
		if req.Method == http.MethodGet {
			_, _ = w.Write(m.raw)
		}
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

// PutManifest stores raw under ref (a tag) and its digest in repo, as a PUT
// would.
func (r *Registry) PutManifest(repo, ref, mediaType string, raw []byte) digest.Digest {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	if r.manifests[repo] == nil {
		r.manifests[repo] = map[string]manifest{}
	}
	d := digest.FromBytes(raw)
	m := manifest{mediaType: mediaType, raw: append([]byte(nil), raw...)}
	r.manifests[repo][d.String()] = m
	if ref != "" {
		r.manifests[repo][ref] = m
	}
	return d
}
