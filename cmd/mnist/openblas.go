//go:build openblas

package main

// Built with -tags openblas (and cgo, with CGO_LDFLAGS=-lopenblas and Debian's libopenblas-dev),
// gorgonia and tinyq's fused ops run their matrix products through OpenBLAS instead of gonum's
// pure-Go BLAS. The default build stays pure Go.

import (
	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

func init() { G.Use(netlib.Implementation{}) }
