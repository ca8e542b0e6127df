package arch

import (
	"fmt"
	"strconv"
	"strings"
)

// Grammar is Parse's grammar, for usage texts and errors.
const Grammar = `layer{,layer}: dense(OUT) | conv(OUT,KERNEL[,stride=S][,pad=P]) | maxpool(KERNEL[,stride=S]) | bn | relu | flatten`

// Parse reads a sequential network in Grammar over an input of shape in, for example
//
//	conv(16,5,pad=2),relu,maxpool(2),conv(32,5,pad=2),relu,maxpool(2),flatten,dense(128),relu,dense(10)
//
// Layers are separated by commas outside parentheses; spaces are ignored. relu applies to
// the layer before it (dense, conv or bn); bn is a BatchNorm of the layer before it;
// a conv's stride defaults to 1 and its pad to 0, a maxpool's stride to its kernel. The
// result is validated (Arch.Validate); errors name the layer by position and text.
func Parse(s string, in Shape) (Arch, error) {
	a := Arch{Input: in}
	toks, err := split(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		return Arch{}, err
	}
	for i, t := range toks {
		if t == "relu" {
			if len(a.Layers) == 0 || a.Layers[len(a.Layers)-1].ReLU {
				return Arch{}, fmt.Errorf("arch: item %d %q: relu must follow a dense, conv or bn layer", i+1, t)
			}
			last := &a.Layers[len(a.Layers)-1]
			if last.Kind != Dense && last.Kind != Conv2D && last.Kind != BatchNorm {
				return Arch{}, fmt.Errorf("arch: item %d %q: relu must follow a dense, conv or bn layer, not %s", i+1, t, last.Kind)
			}
			last.ReLU = true
			continue
		}
		l, err := parseLayer(t)
		if err != nil {
			return Arch{}, fmt.Errorf("arch: item %d %q: %v", i+1, t, err)
		}
		a.Layers = append(a.Layers, l)
	}
	if err := a.Validate(); err != nil {
		return Arch{}, err
	}
	return a, nil
}

// split cuts s at the commas outside parentheses.
func split(s string) ([]string, error) {
	if s == "" {
		return nil, fmt.Errorf("arch: empty architecture (want %s)", Grammar)
	}
	var toks []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
			if depth > 1 {
				return nil, fmt.Errorf("arch: nested parentheses at offset %d in %q", i, s)
			}
		case ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("arch: unbalanced ')' at offset %d in %q", i, s)
			}
		case ',':
			if depth == 0 {
				toks = append(toks, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("arch: unclosed '(' in %q", s)
	}
	toks = append(toks, s[start:])
	for i, t := range toks {
		if t == "" {
			return nil, fmt.Errorf("arch: item %d is empty (want %s)", i+1, Grammar)
		}
	}
	return toks, nil
}

// parseLayer reads one layer other than relu.
func parseLayer(t string) (Layer, error) {
	name, args := t, ""
	if i := strings.IndexByte(t, '('); i >= 0 {
		if !strings.HasSuffix(t, ")") {
			return Layer{}, fmt.Errorf("text after ')'")
		}
		name, args = t[:i], t[i+1:len(t)-1]
	}
	var pos []int
	named := map[string]int{}
	if args != "" {
		for _, a := range strings.Split(args, ",") {
			k, v, isNamed := strings.Cut(a, "=")
			if !isNamed {
				v = k
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return Layer{}, fmt.Errorf("argument %q: want a non-negative integer", a)
			}
			if !isNamed {
				if len(named) > 0 {
					return Layer{}, fmt.Errorf("positional argument %q after a named one", a)
				}
				pos = append(pos, n)
				continue
			}
			if _, dup := named[k]; dup {
				return Layer{}, fmt.Errorf("argument %q given twice", k)
			}
			named[k] = n
		}
	}
	want := func(npos int, names ...string) error {
		if len(pos) != npos {
			return fmt.Errorf("want %s", usage(name))
		}
		for k := range named {
			ok := false
			for _, n := range names {
				ok = ok || k == n
			}
			if !ok {
				return fmt.Errorf("unknown argument %q: want %s", k, usage(name))
			}
		}
		return nil
	}
	switch name {
	case "dense":
		if err := want(1); err != nil {
			return Layer{}, err
		}
		return Layer{Kind: Dense, Out: pos[0]}, nil
	case "conv":
		if err := want(2, "stride", "pad"); err != nil {
			return Layer{}, err
		}
		l := Layer{Kind: Conv2D, Out: pos[0], Kernel: pos[1], Stride: named["stride"], Pad: named["pad"]}
		if s, ok := named["stride"]; ok && s == 0 {
			return Layer{}, fmt.Errorf("stride 0: want at least 1")
		}
		return l, nil
	case "maxpool":
		if err := want(1, "stride"); err != nil {
			return Layer{}, err
		}
		if s, ok := named["stride"]; ok && s == 0 {
			return Layer{}, fmt.Errorf("stride 0: want at least 1")
		}
		return Layer{Kind: MaxPool, Kernel: pos[0], Stride: named["stride"]}, nil
	case "bn", "flatten":
		if t != name {
			return Layer{}, fmt.Errorf("%s takes no arguments", name)
		}
		if name == "bn" {
			return Layer{Kind: BatchNorm}, nil
		}
		return Layer{Kind: Flatten}, nil
	}
	return Layer{}, fmt.Errorf("unknown layer %q (want %s)", name, Grammar)
}

// usage returns one layer's form in the grammar.
func usage(name string) string {
	switch name {
	case "dense":
		return "dense(OUT)"
	case "conv":
		return "conv(OUT,KERNEL[,stride=S][,pad=P])"
	case "maxpool":
		return "maxpool(KERNEL[,stride=S])"
	}
	return name
}
