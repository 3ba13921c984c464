package config

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
)

// A minimal PEP 440 version: enough to validate sdk_version and compare it
// with a minimum. No maintained Go module implements PEP 440 among the ones
// this project may use, and the rules needed here are small.
type pep440 struct {
	epoch   int
	release []int
	pre     int // -3 dev-only, -2..0 for a/b/rc (ordered), 1 = none
	preN    int
	post    int // -1 = none
	dev     int // -1 = none
}

// The grammar of PEP 440's appendix (normalised and common alternative
// spellings), case-insensitive, local part allowed.
var pep440RE = regexp.MustCompile(`(?i)^v?(?:(\d+)!)?(\d+(?:\.\d+)*)` +
	`(?:[-_.]?(a|alpha|b|beta|rc|c|pre|preview)[-_.]?(\d*))?` +
	`(?:(?:-(\d+))|(?:[-_.]?(post|rev|r)[-_.]?(\d*)))?` +
	`(?:[-_.]?(dev)[-_.]?(\d*))?` +
	`(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?$`)

func parsePEP440(s string) (pep440, error) {
	m := pep440RE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil || len(s) > 100 {
		return pep440{}, errors.New("not a PEP 440 version")
	}
	v := pep440{pre: 1, post: -1, dev: -1}
	v.epoch = atoiOr(m[1], 0)
	for _, part := range strings.Split(m[2], ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return pep440{}, err
		}
		v.release = append(v.release, n)
	}
	if m[3] != "" {
		switch strings.ToLower(m[3]) {
		case "a", "alpha":
			v.pre = -2
		case "b", "beta":
			v.pre = -1
		default:
			v.pre = 0
		}
		v.preN = atoiOr(m[4], 0)
	}
	if m[5] != "" {
		v.post = atoiOr(m[5], 0)
	} else if m[6] != "" {
		v.post = atoiOr(m[7], 0)
	}
	if m[8] != "" {
		v.dev = atoiOr(m[9], 0)
		if m[3] == "" && m[6] == "" && m[5] == "" {
			v.pre = -3 // X.Y.devN sorts before X.YaN
		}
	}
	return v, nil
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compare orders versions as PEP 440 does (local parts ignored).
func (v pep440) compare(o pep440) int {
	if c := cmpInt(v.epoch, o.epoch); c != 0 {
		return c
	}
	for i := 0; i < len(v.release) || i < len(o.release); i++ {
		a, b := 0, 0
		if i < len(v.release) {
			a = v.release[i]
		}
		if i < len(o.release) {
			b = o.release[i]
		}
		if c := cmpInt(a, b); c != 0 {
			return c
		}
	}
	if c := cmpInt(v.pre, o.pre); c != 0 {
		return c
	}
	if c := cmpInt(v.preN, o.preN); c != 0 {
		return c
	}
	if c := cmpInt(v.post, o.post); c != 0 {
		return c
	}
	// No dev part sorts after any dev part.
	dv, do := v.dev, o.dev
	if dv < 0 {
		dv = int(^uint(0) >> 1)
	}
	if do < 0 {
		do = int(^uint(0) >> 1)
	}
	return cmpInt(dv, do)
}
