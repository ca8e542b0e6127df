package atomicfile

import (
	"fmt"
	"os"
	"strings"
)

// Place is a path that a program reads or writes: a file, or with Dir, a directory it writes
// files into. Via names what gave the path, for messages (a flag as given: "-save out").
type Place struct {
	Via   string
	Path  string
	Dir   bool
	Input bool // read, not written
}

// Name is the place for messages: Via, and the path when Via names it only indirectly
// ("-save out (out/fp32.safetensors)").
func (p Place) Name() string {
	if _, v, _ := strings.Cut(p.Via, " "); v == p.Path {
		return p.Via
	}
	return p.Via + " (" + p.Path + ")"
}

// ConflictError is two places of different Via that are the same file (SamePath), at least
// one of them written. First is the one to change; Overwritten says that Second is read
// (First would overwrite it).
type ConflictError struct {
	First, Second Place
	Overwritten   bool
}

// Error names both places and what would happen: "-json m names the same file as -load m:
// it would be overwritten; give -json another path".
func (e *ConflictError) Error() string {
	a, b := e.First, e.Second
	verb := "one would overwrite the other"
	if e.Overwritten {
		verb = "it would be overwritten"
	}
	what := "the same file as"
	if a.Dir || b.Dir {
		what = "the same path as"
	}
	return fmt.Sprintf("%s names %s %s: %s; give %s another path", a.Name(), what, b.Name(), verb, strings.Fields(a.Via)[0])
}

// CheckPlaces proves before any work that every place can be written: no two places of
// different Via are the same file unless both are read (a *ConflictError: an output that
// would overwrite an input, or another output), every Dir place is (or becomes) a directory,
// and for every written file a file can be created and removed beside it and its existing
// target is not a directory, device or FIFO (Probe).
func CheckPlaces(ps []Place) error {
	for i, a := range ps {
		for _, b := range ps[i+1:] {
			if a.Via == b.Via || (a.Input && b.Input) || !SamePath(a.Path, b.Path) {
				continue
			}
			// Name the place to change first: the one that would overwrite an input, or of
			// two outputs the one that names the file itself (-json out/manifest.json, not
			// -save out), else the later one.
			e := &ConflictError{First: b, Second: a}
			switch {
			case a.Name() == a.Via && b.Name() != b.Via:
				e.First, e.Second = a, b
			case a.Input:
				e.Overwritten = true
			case b.Input:
				e.First, e.Second, e.Overwritten = a, b, true
			}
			return e
		}
	}
	for _, p := range ps {
		switch {
		case p.Input:
		case p.Dir:
			if err := os.MkdirAll(p.Path, 0o755); err != nil {
				return fmt.Errorf("%s: %w", p.Via, err)
			}
		default:
			if err := Probe(p.Path); err != nil {
				return fmt.Errorf("%s: cannot write there: %w", p.Via, err)
			}
		}
	}
	return nil
}
