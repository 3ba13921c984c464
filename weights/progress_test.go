package weights

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/config"
)

func TestImportProgressInALogIsOneLinePerWeightAndStep(t *testing.T) {
	p := newProject(t, map[string]string{"a.bin": "a", "b.bin": "bb", "c/d.json": "{}"})
	writeTree(t, p.dir+"/weights/other", map[string]string{"o.bin": "o"})
	p.cfg.Weights = append(p.cfg.Weights, config.Weight{Name: "other", Target: "/src/other", Sources: []config.WeightSource{{URI: "weights/other"}}})
	var log bytes.Buffer
	p.imp(t, func(o *ImportOptions) { o.Progress = &log })
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d progress lines, want 4:\n%s", len(lines), log.String())
	}
	for _, want := range []string{"minilm: hashing 3 files (5B)…", "minilm: packed 1 layer in ", "other: hashing 1 file (1B)…", "other: packed 1 layer in "} {
		if !strings.Contains(log.String(), "\n"+want) && !strings.HasPrefix(log.String(), want) {
			t.Errorf("progress lacks a line starting %q:\n%s", want, log.String())
		}
	}
	// Nothing to read: nothing to say.
	log.Reset()
	p.imp(t, func(o *ImportOptions) { o.Progress = &log })
	if log.Len() != 0 {
		t.Errorf("unchanged import printed progress:\n%s", log.String())
	}
}
