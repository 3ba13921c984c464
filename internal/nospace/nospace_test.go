package nospace

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

func TestExplainNamesThePlaceOnce(t *testing.T) {
	base := &fs.PathError{Op: "write", Path: "/store/ingest/x", Err: syscall.ENOSPC}
	err := Explain(fmt.Errorf("pack a.bin: %w", base), "/store", "cog-frontend weights prune")
	err = Explain(fmt.Errorf("weight m: %w", err), "/elsewhere", "")
	msg := err.Error()
	for _, want := range []string{"/store/ingest/x", "file system of /store is full", "free space there (cog-frontend weights prune) and run again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "/elsewhere") || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("explained twice or unwrapping lost ENOSPC: %q", msg)
	}
	if Explain(fmt.Errorf("x: %w", syscall.EDQUOT), "/q", "").Error() == "x: disk quota exceeded" {
		t.Error("a quota error is not explained")
	}
}

func TestExplainLeavesOtherErrorsAlone(t *testing.T) {
	other := errors.New("permission denied")
	if got := Explain(other, "/store", "h"); got != other {
		t.Errorf("got %v", got)
	}
	if Explain(nil, "/store", "h") != nil {
		t.Error("nil became an error")
	}
}
