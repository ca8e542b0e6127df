package quant

import "testing"

func TestPackInt2(t *testing.T) {
	dst := make([]byte, 1)
	if err := PackInt2(dst, []int8{-1, 0, 1, -2}); err != nil || dst[0] != 0x93 {
		t.Fatalf("PackInt2([-1 0 1 -2]) = %#x, %v; want 0x93", dst[0], err)
	}
	// Every value in every position, and odd lengths.
	for n := 1; n <= 9; n++ {
		q := make([]int8, n)
		for i := range q {
			q[i] = int8((i*3+n)%4) - 2
		}
		p := make([]byte, PackedLen2(n))
		if err := PackInt2(p, q); err != nil {
			t.Fatal(err)
		}
		back := make([]int8, n)
		if err := UnpackInt2(back, p); err != nil {
			t.Fatal(err)
		}
		for i := range q {
			if back[i] != q[i] {
				t.Fatalf("n=%d: element %d: %d, want %d", n, i, back[i], q[i])
			}
		}
	}
	if err := PackInt2(make([]byte, 1), []int8{2}); err == nil {
		t.Error("PackInt2 accepted 2")
	}
	if err := PackInt2(make([]byte, 2), []int8{1}); err == nil {
		t.Error("PackInt2 accepted a wrong length")
	}
	if err := UnpackInt2(make([]int8, 5), make([]byte, 1)); err == nil {
		t.Error("UnpackInt2 accepted a short source")
	}
}
