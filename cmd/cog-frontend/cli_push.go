package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/cog-frontend/cog-frontend/exporter"
	"github.com/cog-frontend/cog-frontend/internal/registry"
	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/docker/go-units"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/opencontainers/go-digest"
)

// pushBundle pushes with the exporter's engine, showing upload progress in
// BuildKit's progress modes (one vertex, one status per blob).
func pushBundle(ctx context.Context, b *exporter.Bundle, ref name.Tag, mode string, jobs int) (*exporter.PushResult, error) {
	dir, err := cacheDir()
	if err != nil {
		return nil, err
	}
	disp, err := progressui.NewDisplay(os.Stderr, progressui.DisplayMode(mode))
	if err != nil {
		return nil, err
	}
	ch := make(chan *client.SolveStatus, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = disp.UpdateFrom(context.WithoutCancel(ctx), ch)
	}()
	pr := newPushProgress(ch, "pushing "+ref.String())
	locs := registry.LoadLocations(dir, ref.Context().Registry)
	p := &exporter.Pusher{Hosts: registryHosts, StateDir: dir, Concurrency: jobs, Progress: pr.update, MountFrom: locs.MountFrom}
	res, err := p.Push(ctx, b, ref)
	if err == nil {
		// Every blob, image layers and configs included, so a push of the
		// same model to another repository mounts all of it. A hint file:
		// failing to write it only costs uploads later.
		_ = locs.Record(ref.Context().RepositoryStr(), res.Blobs)
	}
	pr.finish(err)
	close(ch)
	<-done
	if err == nil {
		fmt.Fprintf(os.Stderr, "uploaded %s in %d blob(s); %d already present, %d mounted\n",
			units.HumanSize(float64(p.Stats.BytesSent.Load())), p.Stats.BlobsUploaded.Load(), p.Stats.BlobsExisting.Load(), p.Stats.BlobsMounted.Load())
	}
	return res, err
}

// pushProgress turns exporter progress events into SolveStatus updates,
// at most ten a second per blob (every read would flood the display).
type pushProgress struct {
	mu      sync.Mutex
	ch      chan<- *client.SolveStatus
	vertex  *client.Vertex
	last    map[digest.Digest]time.Time
	logged  map[digest.Digest]time.Time
	started time.Time
}

func newPushProgress(ch chan<- *client.SolveStatus, title string) *pushProgress {
	now := time.Now()
	v := &client.Vertex{Digest: digest.FromString(title + now.String()), Name: title, Started: &now}
	ch <- &client.SolveStatus{Vertexes: []*client.Vertex{v}}
	return &pushProgress{ch: ch, vertex: v, last: map[digest.Digest]time.Time{}, logged: map[digest.Digest]time.Time{}, started: now}
}

func (p *pushProgress) update(e exporter.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if !e.Done && now.Sub(p.last[e.ID]) < 100*time.Millisecond {
		return
	}
	p.last[e.ID] = now
	id := e.Name
	if e.Status == "exists" || e.Status == "mounted" {
		id += " (" + e.Status + ")"
	}
	st := &client.VertexStatus{ID: id, Vertex: p.vertex.Digest, Name: id, Total: e.Total, Current: e.Current, Timestamp: now, Started: &e.Started}
	if e.Done {
		st.Completed = &now
	}
	ss := &client.SolveStatus{Statuses: []*client.VertexStatus{st}}
	// Rate and ETA as a log line every few seconds: BuildKit's status
	// rows show bytes and elapsed time only.
	if !e.Done && e.Current > 0 && now.Sub(p.logged[e.ID]) >= 3*time.Second {
		p.logged[e.ID] = now
		if el := now.Sub(e.Started).Seconds(); el > 0 {
			rate := float64(e.Current) / el
			eta := time.Duration(float64(e.Total-e.Current)/rate) * time.Second
			line := fmt.Sprintf("%s: %s / %s, %s/s, eta %s\n", e.Name, units.HumanSize(float64(e.Current)), units.HumanSize(float64(e.Total)), units.HumanSize(rate), eta.Round(time.Second))
			ss.Logs = []*client.VertexLog{{Vertex: p.vertex.Digest, Stream: 2, Data: []byte(line), Timestamp: now}}
		}
	}
	p.ch <- ss
}

func (p *pushProgress) finish(err error) {
	now := time.Now()
	v := *p.vertex
	v.Completed = &now
	if err != nil {
		v.Error = err.Error()
	}
	p.ch <- &client.SolveStatus{Vertexes: []*client.Vertex{&v}}
}

// printTree prints what a push published.
func printTree(w io.Writer, r *exporter.PushResult) {
	fmt.Fprintf(w, "%s\n  index %s\n", r.Ref, r.Index.Digest)
	for _, im := range r.Images {
		pl := ""
		if im.Descriptor.Platform != nil {
			pl = im.Descriptor.Platform.OS + "/" + im.Descriptor.Platform.Architecture
			if im.Descriptor.Platform.Variant != "" {
				pl += "/" + im.Descriptor.Platform.Variant
			}
		}
		tag := im.Tag
		if tag == "" {
			tag = "(by digest)"
		}
		fmt.Fprintf(w, "  ├─ image %-14s %s  %s\n", pl, im.Descriptor.Digest, tag)
	}
	for _, a := range r.Attestations {
		fmt.Fprintf(w, "  ├─ attestation    %s  for %s\n", a.Digest, a.Annotations[wire.AnnotationDockerReferenceDigest])
	}
	for i, wt := range r.Weights {
		branch := "├─"
		if i == len(r.Weights)-1 {
			branch = "└─"
		}
		fmt.Fprintf(w, "  %s weight %-13s %s  %s  %s\n", branch, wt.Name, wt.Descriptor.Digest, wt.Tag,
			units.HumanSize(float64(atoi(wt.Descriptor.Annotations[wire.AnnotationWeightSizeUncompressed]))))
	}
}

func atoi(s string) int64 {
	var n int64
	fmt.Sscan(s, &n)
	return n
}
