package quant

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestPackInt4Bytes(t *testing.T) {
	tests := []struct {
		q    []int8
		want []byte
	}{
		{[]int8{-1, 2}, []byte{0x2F}}, // -1 = 0xF low, 2 high
		{[]int8{-8, 7}, []byte{0x78}},
		{[]int8{7, -8}, []byte{0x87}},
		{[]int8{0, -1, 1}, []byte{0xF0, 0x01}}, // odd: high nibble of the last byte is 0
		{[]int8{-7}, []byte{0x09}},
		{nil, []byte{}},
	}
	for _, tt := range tests {
		dst := make([]byte, PackedLen(len(tt.q)))
		if err := PackInt4(dst, tt.q); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(dst, tt.want) {
			t.Errorf("PackInt4(%v) = %#x, want %#x", tt.q, dst, tt.want)
		}
		back := make([]int8, len(tt.q))
		if err := UnpackInt4(back, dst); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back, tt.q) && len(tt.q) > 0 {
			t.Errorf("UnpackInt4(%#x) = %v, want %v", dst, back, tt.q)
		}
	}
}

func TestPackUint4Bytes(t *testing.T) {
	dst := make([]byte, 2)
	if err := PackUint4(dst, []uint8{1, 15, 9}); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0xF1, 0x09}; !bytes.Equal(dst, want) {
		t.Errorf("PackUint4 = %#x, want %#x", dst, want)
	}
	back := make([]uint8, 3)
	if err := UnpackUint4(back, []byte{0xF1, 0xA9}); err != nil { // high nibble of the last byte ignored
		t.Fatal(err)
	}
	if want := []uint8{1, 15, 9}; !slices.Equal(back, want) {
		t.Errorf("UnpackUint4 = %v, want %v", back, want)
	}
}

// TestInt4RoundTripAll packs every value in every position, even and odd lengths.
func TestInt4RoundTripAll(t *testing.T) {
	var s []int8
	var u []uint8
	for v := -8; v <= 7; v++ {
		s = append(s, int8(v))
		u = append(u, uint8(v+8))
	}
	for _, n := range []int{16, 15, 1} {
		for rot := range 2 { // each value both as a low and as a high nibble
			qs := slices.Concat(s[rot:], s[:rot])[:n]
			qu := slices.Concat(u[rot:], u[:rot])[:n]
			ps, pu := make([]byte, PackedLen(n)), make([]byte, PackedLen(n))
			if err := PackInt4(ps, qs); err != nil {
				t.Fatal(err)
			}
			if err := PackUint4(pu, qu); err != nil {
				t.Fatal(err)
			}
			bs, bu := make([]int8, n), make([]uint8, n)
			if err := UnpackInt4(bs, ps); err != nil {
				t.Fatal(err)
			}
			if err := UnpackUint4(bu, pu); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(bs, qs) || !slices.Equal(bu, qu) {
				t.Errorf("n %d rot %d: int4 %v -> %v, uint4 %v -> %v", n, rot, qs, bs, qu, bu)
			}
		}
	}
}

func TestInt4Errors(t *testing.T) {
	dst := []byte{0xAA}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{PackInt4(dst, []int8{1, 8}), "q[1] = 8 outside [-8, 7]"},
		{PackInt4(dst, []int8{-9}), "q[0] = -9 outside [-8, 7]"},
		{PackInt4(dst, []int8{1, 2, 3}), "len(dst) 1, want 2"},
		{PackUint4(dst, []uint8{16}), "q[0] = 16 outside [0, 15]"},
		{PackUint4(dst, nil), "len(dst) 1, want 0"},
		{UnpackInt4(make([]int8, 3), dst), "len(src) 1, want 2"},
		{UnpackUint4(make([]uint8, 4), []byte{1, 2, 3}), "len(src) 3, want 2"},
	} {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) || !strings.HasPrefix(tt.err.Error(), "quant: ") {
			t.Errorf("error %v, want one containing %q", tt.err, tt.want)
		}
	}
	if dst[0] != 0xAA {
		t.Errorf("dst modified on error: %#x", dst[0])
	}
}

// FuzzPackInt4: any data, read as nibble values, survives Pack/Unpack for
// both signednesses, and packing the unpacked bytes reproduces them (except
// the unused high nibble of an odd-length tail, which packs as 0).
func FuzzPackInt4(f *testing.F) {
	f.Add([]byte{0x2F})
	f.Add([]byte{0x78, 0x87, 0x00})
	f.Add([]byte{})
	f.Add([]byte{0xFF, 0x01, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		qs := make([]int8, len(data))
		qu := make([]uint8, len(data))
		for i, b := range data {
			qu[i] = b & 0x0F
			qs[i] = int8(qu[i]) - 8
		}
		ps, pu := make([]byte, PackedLen(len(data))), make([]byte, PackedLen(len(data)))
		if err := PackInt4(ps, qs); err != nil {
			t.Fatal(err)
		}
		if err := PackUint4(pu, qu); err != nil {
			t.Fatal(err)
		}
		bs, bu := make([]int8, len(data)), make([]uint8, len(data))
		if err := UnpackInt4(bs, ps); err != nil {
			t.Fatal(err)
		}
		if err := UnpackUint4(bu, pu); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(bs, qs) || !slices.Equal(bu, qu) {
			t.Fatalf("round trip: int4 %v -> %v, uint4 %v -> %v", qs, bs, qu, bu)
		}
		// Bytes -> values -> bytes.
		vals := make([]int8, 2*len(data))
		if err := UnpackInt4(vals, data); err != nil {
			t.Fatal(err)
		}
		again := make([]byte, len(data))
		if err := PackInt4(again, vals); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("bytes %#x -> %v -> %#x", data, vals, again)
		}
	})
}
