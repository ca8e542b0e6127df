//go:build amd64 && gc && !purego

package qkernel

// vnni6x64 computes six rows of a (row stride lda bytes) times one 64-channel block of
// VNNI-packed weights w over the listed 4-input groups, storing 6 x 64 int32 to c (row stride
// ldc bytes). See vnni_amd64.s.
//
//go:noescape
func vnni6x64(a *uint8, lda int, w *int8, groups *int32, ng int, c *int32, ldc int)

// vnni1x64 is vnni6x64 for one row.
//
//go:noescape
func vnni1x64(a *uint8, w *int8, groups *int32, ng int, c *int32)

// avx2x6x16 computes six int16-widened rows of a (row stride lda bytes) times one
// 16-channel block of AVX2-packed weights w over the listed input pairs, storing 6 x 16 int32
// to c (row stride ldc bytes). See avx2_amd64.s.
//
//go:noescape
func avx2x6x16(a *int16, lda int, w *int16, pairs *int32, np int, c *int32, ldc int)

// nonzeroMask sets bit j of masks[c] when any of rows rows of a (stride lda bytes) has a
// nonzero byte in bytes [64c+4j, 64c+4j+4). It reads 64·chunks bytes of each row. See
// vnni_amd64.s.
//
//go:noescape
func nonzeroMask(a *uint8, lda int, rows int, chunks int, masks *uint16)

// vnni6x16 is vnni6x64 for a 16-channel block whose weights hold one vector per group.
//
//go:noescape
func vnni6x16(a *uint8, lda int, w *int8, groups *int32, ng int, c *int32, ldc int)

// avxvnni6x16 computes six rows of a (row stride lda bytes) times one 16-channel block of
// AVX-VNNI-packed weights w over the listed 4-input groups, storing 6 x 16 int32 to c (row
// stride ldc bytes). See avxvnni_amd64.s.
//
//go:noescape
func avxvnni6x16(a *uint8, lda int, w *int8, groups *int32, ng int, c *int32, ldc int)

// vnni6x16i is vnni6x16 for an implicit convolution: six rows by their own pointers, every
// group in order at byte offsets offs from each row, the weights of group k at w + 64k.
//
//go:noescape
func vnni6x16i(rows *[6]*uint8, offs *int32, ng int, w *int8, c *int32, ldc int)

// vnniConvRun is vnni6x16i over tiles whole six-pixel tiles of an implicit convolution,
// every block of 16 channels: the window of row i of the next tile starts at base +
// corners[r+i], r counted in the image at base (corners holds pix+5 entries, those past
// pix the following images' windows: convGeom); after each tile r grows by 6, less pix
// and base more img bytes while r >= pix. Block b's weights are at w + b·wstride; tile
// k's 6 x 16·blocks int32 results are stored to c + k·6·ldc bytes (row stride ldc bytes,
// block b at +64b).
//
//go:noescape
func vnniConvRun(base *uint8, corners *int32, r, pix, img, tiles int, offs *int32, ng int, w *int8, wstride, blocks int, c *int32, ldc int)
