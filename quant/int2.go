package quant

import "fmt"

// PackedLen2 returns the number of bytes that hold n packed 2-bit values.
func PackedLen2(n int) int { return (n + 3) / 4 }

// PackInt2 packs q, whose values must be in [-2, 1], into dst, which must have length
// PackedLen2(len(q)). On error dst is left unchanged.
//
// Layout: four 2-bit two's-complement values per byte, element 4i+j in bits 2j and 2j+1 of
// byte i (so element 4i is in the lowest bits, as with PackInt4's low nibble first): PackInt2
// of [-1, 0, 1, -2] is [0b10_01_00_11] = [0x93]. Unused high bits of the last byte are 0 when
// packing and ignored when unpacking. Symmetric 2-bit weights use only [-1, 1].
func PackInt2(dst []byte, q []int8) error {
	if len(dst) != PackedLen2(len(q)) {
		return fmt.Errorf("quant: PackInt2: len(dst) %d, want %d for %d values", len(dst), PackedLen2(len(q)), len(q))
	}
	for i, v := range q {
		if v < -2 || v > 1 {
			return fmt.Errorf("quant: PackInt2: q[%d] = %d outside [-2, 1]", i, v)
		}
	}
	clear(dst)
	for i, v := range q {
		dst[i/4] |= (byte(v) & 3) << (2 * (i % 4))
	}
	return nil
}

// UnpackInt2 unpacks len(dst) signed 2-bit values from src, which must have length
// PackedLen2(len(dst)), sign-extending each.
func UnpackInt2(dst []int8, src []byte) error {
	if len(src) != PackedLen2(len(dst)) {
		return fmt.Errorf("quant: UnpackInt2: len(src) %d, want %d for %d values", len(src), PackedLen2(len(dst)), len(dst))
	}
	for i := range dst {
		b := src[i/4] >> (2 * (i % 4))
		dst[i] = int8(b<<6) >> 6
	}
	return nil
}
