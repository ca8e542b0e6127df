package autograd

import (
	"os"
	"testing"

	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
)

// blasAtStart is gorgonia's BLAS when this test binary started, before TestMain called
// UseBLAS: importing autograd must not have changed it.
var blasAtStart G.BLAS

// TestMain installs tinyq's BLAS, as tinyq/nn does when it builds a graph, so that this
// package's graphs run their products on tinyq/gemm.
func TestMain(m *testing.M) {
	blasAtStart = G.WhichBLAS()
	UseBLAS()
	os.Exit(m.Run())
}

// TestUseBLAS checks that importing autograd leaves gorgonia's BLAS alone (before issue 19 an
// init replaced it), that UseBLAS installs BLAS, and that a later call keeps a BLAS the
// program chose with gorgonia.Use in between.
func TestUseBLAS(t *testing.T) {
	if _, ok := blasAtStart.(BLAS); ok {
		t.Errorf("importing autograd installed its BLAS (%T), want gorgonia's untouched", blasAtStart)
	}
	if _, ok := G.WhichBLAS().(BLAS); !ok {
		t.Fatalf("after UseBLAS gorgonia's BLAS is %T, want autograd.BLAS", G.WhichBLAS())
	}
	other := gonum.Implementation{}
	G.Use(other)
	defer G.Use(BLAS{})
	UseBLAS()
	if _, ok := G.WhichBLAS().(gonum.Implementation); !ok {
		t.Errorf("a second UseBLAS replaced the program's choice with %T", G.WhichBLAS())
	}
}
