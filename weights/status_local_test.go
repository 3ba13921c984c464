package weights

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/config"
)

func TestStatusReportsEveryWeightPastAMissingSource(t *testing.T) {
	p := newProject(t, map[string]string{"a.bin": "a"})
	writeTree(t, filepath.Join(p.dir, "weights", "other"), map[string]string{"o.bin": "o"})
	p.imp(t, nil)
	p.cfg.Weights = []config.Weight{
		{Name: "gone", Target: "/src/gone", Sources: []config.WeightSource{{URI: "weights/gone"}}},
		p.cfg.Weights[0],
		{Name: "other", Target: "/src/other", Sources: []config.WeightSource{{URI: "weights/other"}}},
	}
	o := p.importOpts()
	o.DryRun = true
	res, err := Import(context.Background(), o)
	if err != nil {
		t.Fatalf("status stopped at the missing source: %v", err)
	}
	got := map[string]WeightReport{}
	for _, r := range res.Weights {
		got[r.Name] = r
	}
	if r := got["gone"]; r.Status != StatusSourceError || !strings.Contains(r.Reason, filepath.Join(p.dir, "weights", "gone")) {
		t.Errorf("gone: %+v", r)
	}
	if r := got["minilm"]; r.Status != StatusUnchanged {
		t.Errorf("minilm: %+v", r)
	}
	if r := got["other"]; r.Status != StatusNew || r.Files != 1 {
		t.Errorf("other: %+v", r)
	}
	// A real import still refuses: it cannot record a weight it cannot read.
	if _, err := Import(context.Background(), p.importOpts()); err == nil || !strings.Contains(err.Error(), `weight "gone"`) {
		t.Errorf("import with a missing source: %v", err)
	}
}
