package quant

import "fmt"

// Packing is how quantized weights are stored in bytes.
type Packing int

// The packings, one per range of bit widths (see PackingFor).
const (
	PackedInt8 Packing = iota + 1 // one int8 per byte (5 to 8 bits)
	PackedInt4                    // two per byte, low nibble first (3 and 4 bits)
	PackedInt2                    // four per byte, lowest bits first (2 bits)
)

// PackingFor returns the packing of signed weights of the given bit width, the narrowest
// that holds the symmetric range ±(2^(bits-1)-1): PackedInt2 for 2 bits ([-1, 1] in
// [-2, 1]), PackedInt4 for 3 and 4 bits ([-7, 7] in [-8, 7]), PackedInt8 for 5 to 8 bits.
// Other widths are an error. It is the one place where a bit width decides a storage format.
func PackingFor(bits int) (Packing, error) {
	if err := CheckBits(bits); err != nil {
		return 0, err
	}
	switch {
	case bits == 2:
		return PackedInt2, nil
	case bits <= 4:
		return PackedInt4, nil
	}
	return PackedInt8, nil
}

// String returns "int8", "int4" or "int2" (the names used in model files), or "Packing(n)"
// for an invalid value.
func (p Packing) String() string {
	switch p {
	case PackedInt8:
		return "int8"
	case PackedInt4:
		return "int4"
	case PackedInt2:
		return "int2"
	}
	return fmt.Sprintf("Packing(%d)", int(p))
}

// ValueBits returns the bits one value occupies: 8, 4 or 2 (0 for an invalid Packing).
func (p Packing) ValueBits() int {
	switch p {
	case PackedInt8:
		return 8
	case PackedInt4:
		return 4
	case PackedInt2:
		return 2
	}
	return 0
}

// Len returns the number of bytes that hold n packed values: n, PackedLen(n) = ceil(n/2) or
// PackedLen2(n) = ceil(n/4). It returns -1 for an invalid Packing, which no length equals.
func (p Packing) Len(n int) int {
	switch p {
	case PackedInt8:
		return n
	case PackedInt4:
		return PackedLen(n)
	case PackedInt2:
		return PackedLen2(n)
	}
	return -1
}

// Pack stores q in dst, which must have length p.Len(len(q)): PackedInt8 copies the int8
// bits as bytes (any int8), PackedInt4 is PackInt4 (values in [-8, 7]) and PackedInt2 is
// PackInt2 (values in [-2, 1]). On error dst is left unchanged.
func (p Packing) Pack(dst []byte, q []int8) error {
	switch p {
	case PackedInt8:
		if len(dst) != len(q) {
			return fmt.Errorf("quant: Pack int8: len(dst) %d, want %d for %d values", len(dst), len(q), len(q))
		}
		for i, v := range q {
			dst[i] = byte(v)
		}
		return nil
	case PackedInt4:
		return PackInt4(dst, q)
	case PackedInt2:
		return PackInt2(dst, q)
	}
	return fmt.Errorf("quant: Pack: invalid packing %v", p)
}

// Unpack is the inverse of Pack: it reads len(dst) values from src, which must have length
// p.Len(len(dst)), sign-extending packed values.
func (p Packing) Unpack(dst []int8, src []byte) error {
	switch p {
	case PackedInt8:
		if len(src) != len(dst) {
			return fmt.Errorf("quant: Unpack int8: len(src) %d, want %d for %d values", len(src), len(dst), len(dst))
		}
		for i, b := range src {
			dst[i] = int8(b)
		}
		return nil
	case PackedInt4:
		return UnpackInt4(dst, src)
	case PackedInt2:
		return UnpackInt2(dst, src)
	}
	return fmt.Errorf("quant: Unpack: invalid packing %v", p)
}
