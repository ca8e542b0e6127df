package quant

import "fmt"

// PackedLen returns the number of bytes that hold n packed 4-bit values.
func PackedLen(n int) int { return (n + 1) / 2 }

// PackInt4 packs q, whose values must be in [-8, 7], into dst, which must
// have length PackedLen(len(q)). On error dst is left unchanged.
//
// Layout (shared by all four functions): two 4-bit values per byte, element
// 2i in the low nibble of byte i and element 2i+1 in its high nibble. Signed
// values are two's complement nibbles (-1 is 0xF, -8 is 0x8), so PackInt4 of
// [-1, 2] is [0x2F]. For an odd count the high nibble of the last byte is 0
// when packing and ignored when unpacking.
func PackInt4(dst []byte, q []int8) error {
	if len(dst) != PackedLen(len(q)) {
		return fmt.Errorf("quant: PackInt4: len(dst) %d, want %d for %d values", len(dst), PackedLen(len(q)), len(q))
	}
	for i, v := range q {
		if v < -8 || v > 7 {
			return fmt.Errorf("quant: PackInt4: q[%d] = %d outside [-8, 7]", i, v)
		}
	}
	for i := range dst {
		b := byte(q[2*i]) & 0x0F
		if 2*i+1 < len(q) {
			b |= byte(q[2*i+1]) << 4
		}
		dst[i] = b
	}
	return nil
}

// UnpackInt4 unpacks len(dst) signed 4-bit values from src, which must have
// length PackedLen(len(dst)), sign-extending each nibble.
func UnpackInt4(dst []int8, src []byte) error {
	if len(src) != PackedLen(len(dst)) {
		return fmt.Errorf("quant: UnpackInt4: len(src) %d, want %d for %d values", len(src), PackedLen(len(dst)), len(dst))
	}
	for i := range dst {
		b := src[i/2]
		if i%2 == 1 {
			b >>= 4
		}
		// Shift the nibble to the top of an int8, then arithmetic-shift back.
		dst[i] = int8(b<<4) >> 4
	}
	return nil
}

// PackUint4 packs q, whose values must be in [0, 15], into dst, which must
// have length PackedLen(len(q)). On error dst is left unchanged.
func PackUint4(dst []byte, q []uint8) error {
	if len(dst) != PackedLen(len(q)) {
		return fmt.Errorf("quant: PackUint4: len(dst) %d, want %d for %d values", len(dst), PackedLen(len(q)), len(q))
	}
	for i, v := range q {
		if v > 15 {
			return fmt.Errorf("quant: PackUint4: q[%d] = %d outside [0, 15]", i, v)
		}
	}
	for i := range dst {
		b := q[2*i]
		if 2*i+1 < len(q) {
			b |= q[2*i+1] << 4
		}
		dst[i] = b
	}
	return nil
}

// UnpackUint4 unpacks len(dst) unsigned 4-bit values from src, which must
// have length PackedLen(len(dst)).
func UnpackUint4(dst []uint8, src []byte) error {
	if len(src) != PackedLen(len(dst)) {
		return fmt.Errorf("quant: UnpackUint4: len(src) %d, want %d for %d values", len(src), PackedLen(len(dst)), len(dst))
	}
	for i := range dst {
		b := src[i/2]
		if i%2 == 1 {
			b >>= 4
		}
		dst[i] = b & 0x0F
	}
	return nil
}
