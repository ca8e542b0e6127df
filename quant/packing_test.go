package quant

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestPackingFor(t *testing.T) {
	want := map[int]Packing{2: PackedInt2, 3: PackedInt4, 4: PackedInt4, 5: PackedInt8, 6: PackedInt8, 7: PackedInt8, 8: PackedInt8}
	for bits := -1; bits <= 10; bits++ {
		p, err := PackingFor(bits)
		w, ok := want[bits]
		switch {
		case ok && (err != nil || p != w):
			t.Errorf("PackingFor(%d) = %v, %v; want %v", bits, p, err, w)
		case !ok && (err == nil || !strings.HasPrefix(err.Error(), "quant: ")):
			t.Errorf("PackingFor(%d) = %v, %v; want a quant: error", bits, p, err)
		}
		if !ok {
			continue
		}
		// The symmetric range of bits fits the packing's two's complement values.
		qmin, qmax := Spec{Bits: bits, Scheme: Symmetric, Granularity: PerTensor}.QRange()
		if vb := p.ValueBits(); qmin < -(1<<(vb-1)) || qmax > 1<<(vb-1)-1 {
			t.Errorf("%d bits: range [%d, %d] does not fit %v", bits, qmin, qmax, p)
		}
	}
}

func TestPackingNames(t *testing.T) {
	for _, tt := range []struct {
		p    Packing
		name string
		bits int
		len7 int // Len(7)
	}{
		{PackedInt8, "int8", 8, 7},
		{PackedInt4, "int4", 4, 4}, // ceil(7/2)
		{PackedInt2, "int2", 2, 2}, // ceil(7/4)
		{0, "Packing(0)", 0, -1},
		{4, "Packing(4)", 0, -1},
	} {
		if got := tt.p.String(); got != tt.name {
			t.Errorf("String() = %q, want %q", got, tt.name)
		}
		if got := tt.p.ValueBits(); got != tt.bits {
			t.Errorf("%v: ValueBits() = %d, want %d", tt.p, got, tt.bits)
		}
		if got := tt.p.Len(7); got != tt.len7 {
			t.Errorf("%v: Len(7) = %d, want %d", tt.p, got, tt.len7)
		}
	}
}

// TestPackingBytes pins the byte layout of each packing on hand-packed examples.
func TestPackingBytes(t *testing.T) {
	for _, tt := range []struct {
		p    Packing
		q    []int8
		want []byte
	}{
		{PackedInt8, []int8{-128, -127, -1, 0, 1, 127}, []byte{0x80, 0x81, 0xFF, 0x00, 0x01, 0x7F}},
		// -7 = 0x9, 7 = 0x7, -1 = 0xF, 1 = 0x1; element 2i in the low nibble.
		{PackedInt4, []int8{-7, 7, -1, 1, -8}, []byte{0x79, 0x1F, 0x08}},
		// -1 = 0b11, 1 = 0b01, 0 = 0b00, -2 = 0b10; element 4i+j in bits 2j, 2j+1.
		{PackedInt2, []int8{-1, 1, 0, -2, 1}, []byte{0b10_00_01_11, 0b01}},
	} {
		dst := make([]byte, tt.p.Len(len(tt.q)))
		if err := tt.p.Pack(dst, tt.q); err != nil {
			t.Fatalf("%v: %v", tt.p, err)
		}
		if !bytes.Equal(dst, tt.want) {
			t.Errorf("%v: Pack(%v) = %#x, want %#x", tt.p, tt.q, dst, tt.want)
		}
	}
}

// TestPackingRoundTrip packs and unpacks the extreme symmetric values (±127 for int8, ±7 for
// int4, ±1 for int2), the most negative two's complement value and 0, in every position of
// lengths 0 to 13 (so not multiples of 2 or 4).
func TestPackingRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		p      Packing
		values []int8
	}{
		{PackedInt8, []int8{127, -127, -128, 0, 1, -1}},
		{PackedInt4, []int8{7, -7, -8, 0, 1, -1}},
		{PackedInt2, []int8{1, -1, -2, 0}},
	} {
		for n := range 14 {
			q := make([]int8, n)
			for i := range q {
				q[i] = tt.values[(i*5+n)%len(tt.values)]
			}
			packed := make([]byte, tt.p.Len(n))
			if err := tt.p.Pack(packed, q); err != nil {
				t.Fatalf("%v n=%d: Pack: %v", tt.p, n, err)
			}
			back := make([]int8, n)
			if err := tt.p.Unpack(back, packed); err != nil {
				t.Fatalf("%v n=%d: Unpack: %v", tt.p, n, err)
			}
			if !slices.Equal(back, q) {
				t.Errorf("%v n=%d: round trip %v, want %v", tt.p, n, back, q)
			}
		}
	}
}

func TestPackingErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"int8 short dst", PackedInt8.Pack(make([]byte, 2), []int8{1, 2, 3}), "len(dst) 2, want 3"},
		{"int8 short src", PackedInt8.Unpack(make([]int8, 3), make([]byte, 4)), "len(src) 4, want 3"},
		{"int4 value", PackedInt4.Pack(make([]byte, 2), []int8{1, 2, 8}), "q[2] = 8 outside [-8, 7]"},
		{"int4 negative value", PackedInt4.Pack(make([]byte, 1), []int8{-9}), "q[0] = -9"},
		{"int4 length", PackedInt4.Pack(make([]byte, 1), []int8{1, 2, 3}), "len(dst) 1, want 2"},
		{"int4 src length", PackedInt4.Unpack(make([]int8, 3), make([]byte, 1)), "len(src) 1, want 2"},
		{"int2 value", PackedInt2.Pack(make([]byte, 1), []int8{0, 2}), "q[1] = 2 outside [-2, 1]"},
		{"int2 length", PackedInt2.Pack(make([]byte, 2), []int8{1, 1, 1, 1}), "len(dst) 2, want 1"},
		{"int2 src length", PackedInt2.Unpack(make([]int8, 5), make([]byte, 1)), "len(src) 1, want 2"},
		{"invalid pack", Packing(0).Pack(nil, nil), "invalid packing Packing(0)"},
		{"invalid unpack", Packing(9).Unpack(nil, nil), "invalid packing Packing(9)"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.HasPrefix(tt.err.Error(), "quant: ") || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want quant: ...%s...", tt.name, tt.err, tt.want)
		}
	}
	// On error dst is left unchanged.
	for _, tt := range []struct {
		p   Packing
		dst []byte
		q   []int8
	}{
		{PackedInt8, []byte{0xAA}, []int8{1, 2}},  // wrong length
		{PackedInt4, []byte{0xAA}, []int8{1, 8}},  // 8 outside [-8, 7]
		{PackedInt2, []byte{0xAA}, []int8{1, -3}}, // -3 outside [-2, 1]
	} {
		if err := tt.p.Pack(tt.dst, tt.q); err == nil || tt.dst[0] != 0xAA {
			t.Errorf("%v: Pack(%v): err %v, dst %#x after an error", tt.p, tt.q, err, tt.dst)
		}
	}
}
