package main

import (
	"strings"
	"syscall"
	"testing"
)

func TestReportInterruptedNamesTheCommandAndHowToContinue(t *testing.T) {
	root := newRootCmd()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"weights", "import"}, "weights.lock was not changed"},
		{[]string{"weights", "pull"}, "an interrupted download resumes"},
		{[]string{"push"}, "an interrupted upload resumes"},
		{[]string{"bundle"}, "an interrupted upload resumes"},
		{[]string{"inspect"}, "Run it again."},
	} {
		c, _, err := root.Find(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if code := reportInterrupted(&b, c, syscall.SIGINT); code != 130 {
			t.Errorf("%v: exit code %d, want 130", tc.args, code)
		}
		want := "interrupted: `cog-frontend " + strings.Join(tc.args, " ") + "` stopped before it finished."
		if !strings.HasPrefix(b.String(), want) || !strings.Contains(b.String(), tc.want) {
			t.Errorf("%v: %q, want %q ... %q", tc.args, b.String(), want, tc.want)
		}
	}
	var b strings.Builder
	if code := reportInterrupted(&b, nil, syscall.SIGTERM); code != 143 || !strings.HasPrefix(b.String(), "terminated: ") {
		t.Errorf("SIGTERM: %d %q", code, b.String())
	}
}
