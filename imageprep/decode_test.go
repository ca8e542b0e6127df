package imageprep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// encode returns img encoded by enc.
func encode(t *testing.T, img image.Image, enc func(*bytes.Buffer, image.Image) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := enc(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodePNG(buf *bytes.Buffer, img image.Image) error { return png.Encode(buf, img) }
func encodeJPEG(buf *bytes.Buffer, img image.Image) error {
	return jpeg.Encode(buf, img, &jpeg.Options{Quality: 75})
}
func encodeGIF(buf *bytes.Buffer, img image.Image) error {
	return gif.Encode(buf, img, &gif.Options{NumColors: 256})
}

// pngHeader returns a valid PNG signature and IHDR chunk declaring a w×h 8-bit grey
// image, and nothing else: enough for image.DecodeConfig.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 0, 0, 0, 0) // depth 8, grey, deflate, no filter, no interlace
	chunk := append([]byte("IHDR"), ihdr...)
	out := append([]byte("\x89PNG\r\n\x1a\n"), binary.BigEndian.AppendUint32(nil, uint32(len(ihdr)))...)
	out = append(out, chunk...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(chunk))
}

// gifHeader returns a GIF header declaring a w×h logical screen with a 2-colour global
// palette.
func gifHeader(w, h uint16) []byte {
	out := []byte("GIF89a")
	out = binary.LittleEndian.AppendUint16(out, w)
	out = binary.LittleEndian.AppendUint16(out, h)
	return append(out, 0x80, 0, 0, 0, 0, 0, 255, 255, 255) // global table of 2 colours
}

func TestDecode(t *testing.T) {
	digit := strokes(40, 30, 255, 0, 3, segment{10, 5, 30, 5}, segment{30, 5, 18, 25})
	rgba := image.NewRGBA(digit.Rect)
	for i, v := range digit.Pix {
		rgba.Set(i%40, i/40, color.RGBA{v, v / 2, 255 - v, 255})
	}
	truncated := encode(t, digit, encodePNG)
	truncated = truncated[:len(truncated)/2]

	tests := []struct {
		name     string
		data     []byte
		wantSize image.Point
		exact    image.Image // if set, the decoded pixels must equal these
		wantErr  string      // substring of the error; "" for success
		errIs    error
		size     *SizeError
	}{
		{name: "PNG grey", data: encode(t, digit, encodePNG), wantSize: image.Pt(40, 30), exact: digit},
		{name: "PNG RGBA", data: encode(t, rgba, encodePNG), wantSize: image.Pt(40, 30), exact: rgba},
		{name: "JPEG", data: encode(t, digit, encodeJPEG), wantSize: image.Pt(40, 30)},
		{name: "GIF", data: encode(t, digit, encodeGIF), wantSize: image.Pt(40, 30), exact: digit},
		{name: "garbage", data: []byte("this is not an image, just some bytes"), wantErr: "unknown image format", errIs: image.ErrFormat},
		{name: "empty", data: nil, wantErr: "unknown image format", errIs: image.ErrFormat},
		{name: "truncated PNG", data: truncated, wantErr: "corrupt png image"},
		{name: "PNG header only", data: pngHeader(40, 30), wantErr: "corrupt png image"},
		{name: "PNG declaring 100000x100000", data: pngHeader(100000, 100000), size: &SizeError{100000, 100000}},
		// 7072*7071 = 50,006,112, just over MaxPixels; 7071*7071 = 49,999,041 is under.
		{name: "PNG declaring 7072x7071", data: pngHeader(7072, 7071), size: &SizeError{7072, 7071}},
		{name: "PNG declaring 7071x7071", data: pngHeader(7071, 7071), wantErr: "corrupt png image"},
		{name: "PNG declaring 65536x1", data: pngHeader(65536, 1), size: &SizeError{65536, 1}},
		{name: "GIF declaring 65535x65535", data: gifHeader(65535, 65535), size: &SizeError{65535, 65535}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Decode(bytes.NewReader(tt.data))
			if tt.wantErr == "" && tt.size == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got := img.Bounds().Size(); got != tt.wantSize {
					t.Errorf("size %v, want %v", got, tt.wantSize)
				}
				if tt.exact != nil {
					for y := range tt.wantSize.Y {
						for x := range tt.wantSize.X {
							r0, g0, b0, a0 := tt.exact.At(x, y).RGBA()
							r1, g1, b1, a1 := img.At(x, y).RGBA()
							if r0 != r1 || g0 != g1 || b0 != b1 || a0 != a1 {
								t.Fatalf("pixel (%d, %d) differs", x, y)
							}
						}
					}
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "imageprep: ") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want \"imageprep: \" and %q", err, tt.wantErr)
			}
			if tt.errIs != nil && !errors.Is(err, tt.errIs) {
				t.Errorf("error %v does not wrap %v", err, tt.errIs)
			}
			if tt.size != nil {
				var se *SizeError
				if !errors.As(err, &se) || *se != *tt.size {
					t.Errorf("error %v, want %v", err, tt.size)
				}
			}
		})
	}
}

// The byte limit, with a small limit: limit bytes are read, one more is refused.
func TestDecodeByteLimit(t *testing.T) {
	data := encode(t, image.NewGray(image.Rect(0, 0, 8, 8)), encodePNG)
	n := int64(len(data))
	if _, err := decode(bytes.NewReader(data), n); err != nil {
		t.Errorf("limit %d = size: %v", n, err)
	}
	if _, err := decode(bytes.NewReader(data), n-1); !errors.Is(err, ErrTooManyBytes) {
		t.Errorf("limit %d = size-1: error %v, want ErrTooManyBytes", n-1, err)
	}
}

// A quality-75 JPEG of a synthetic digit gives the same ink box as the PNG, and nearly
// the same pixels: the margin of at least minMargin levels keeps JPEG ringing out.
func TestJPEGMatchesPNG(t *testing.T) {
	digit := strokes(140, 140, 255, 0, 9, seven...)
	want, err := MNIST(digit)
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range []struct {
		name string
		f    func(*bytes.Buffer, image.Image) error
	}{{"png", encodePNG}, {"jpeg", encodeJPEG}} {
		img, err := Decode(bytes.NewReader(encode(t, digit, enc.f)))
		if err != nil {
			t.Fatal(err)
		}
		ringing := 0 // largest change of a background pixel
		for y := range 140 {
			for x := range 140 {
				if digit.GrayAt(x, y).Y == 255 {
					r, _, _, _ := img.At(x, y).RGBA()
					ringing = max(ringing, 255-int(r>>8))
				}
			}
		}
		got, err := MNIST(img)
		if err != nil {
			t.Fatal(err)
		}
		gotBox, _, _ := inkStats(got)
		wantBox, _, _ := inkStats(want)
		c := correlation(got, want)
		t.Logf("%s: background pixels changed by up to %d levels; correlation %.4f", enc.name, ringing, c)
		if gotBox != wantBox {
			t.Errorf("%s: ink box %v, want %v\n%s", enc.name, gotBox, wantBox, ascii(got))
		}
		// PNG is lossless: exact. JPEG: 0.99, measured 1.0000 to four places.
		if enc.name == "png" && !bytes.Equal(got, want) || c < 0.99 {
			t.Errorf("%s: correlation %.4f\n%s\nwant\n%s", enc.name, c, ascii(got), ascii(want))
		}
	}
}

func TestDecodeFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	digit := strokes(40, 30, 255, 0, 3, segment{10, 5, 30, 5}, segment{30, 5, 18, 25})
	pngPath := write("digit.png", encode(t, digit, encodePNG))
	jpegPath := write("digit.jpg", encode(t, digit, encodeJPEG))
	garbagePath := write("notes.txt", []byte("not an image"))
	// A sparse file one byte over the limit: refused from its size, never read.
	bigPath := filepath.Join(dir, "big.png")
	if f, err := os.Create(bigPath); err != nil {
		t.Fatal(err)
	} else if err := f.Truncate(MaxBytes + 1); err != nil {
		t.Fatal(err)
	} else if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	linkPath := filepath.Join(dir, "link.png")
	if err := os.Symlink(pngPath, linkPath); err != nil {
		linkPath = pngPath // no symlinks here: test the file itself
	}

	tests := []struct {
		name       string
		path       string
		wantErr    string // substrings of the error; "" for success
		errIs      error
		notRegular bool
	}{
		{name: "PNG", path: pngPath},
		{name: "JPEG", path: jpegPath},
		{name: "symlink to PNG", path: linkPath},
		{name: "directory", path: dir, wantErr: dir + " is a directory, not a regular file", notRegular: true},
		{name: "missing", path: filepath.Join(dir, "missing.png"), wantErr: "missing.png", errIs: fs.ErrNotExist},
		{name: "garbage", path: garbagePath, wantErr: "imageprep: " + garbagePath + ": unknown image format", errIs: image.ErrFormat},
		{name: "too big", path: bigPath, wantErr: "imageprep: " + bigPath + ": input is larger than", errIs: ErrTooManyBytes},
	}
	if _, err := os.Stat(os.DevNull); err == nil && filepath.IsAbs(os.DevNull) {
		tests = append(tests, struct {
			name       string
			path       string
			wantErr    string
			errIs      error
			notRegular bool
		}{name: "device", path: os.DevNull, wantErr: os.DevNull + " is a", notRegular: true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := DecodeFile(tt.path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if img.Bounds().Size() != image.Pt(40, 30) {
					t.Errorf("size %v, want 40x30", img.Bounds().Size())
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "imageprep: ") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want \"imageprep: \" and %q", err, tt.wantErr)
			}
			if tt.errIs != nil && !errors.Is(err, tt.errIs) {
				t.Errorf("error %v does not wrap %v", err, tt.errIs)
			}
			var nr *NotRegularError
			if errors.As(err, &nr) != tt.notRegular {
				t.Errorf("error %v: *NotRegularError %t, want %t", err, !tt.notRegular, tt.notRegular)
			}
		})
	}
}

// The error types' messages: their data, in words.
func TestErrorMessages(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&SizeError{0, 5}, "imageprep: image is empty (0x5 pixels)"},
		{&SizeError{10000, 6000}, "imageprep: image is 10000x6000 pixels (60.0 megapixels), more than the limit of 50 megapixels"},
		{&SizeError{70000, 1}, "imageprep: image is 70000x1 pixels, more than the limit of 65535 pixels a side"},
		{&NotRegularError{"/tmp/x", fs.ModeDir | 0o755}, "imageprep: /tmp/x is a directory, not a regular file"},
		{&NotRegularError{"/tmp/p", fs.ModeNamedPipe}, "imageprep: /tmp/p is a named pipe (FIFO), not a regular file"},
		{&NotRegularError{"/dev/sda", fs.ModeDevice}, "imageprep: /dev/sda is a device, not a regular file"},
		{&NotRegularError{"/dev/tty", fs.ModeDevice | fs.ModeCharDevice}, "imageprep: /dev/tty is a character device, not a regular file"},
		{&NotRegularError{"/run/s", fs.ModeSocket}, "imageprep: /run/s is a socket, not a regular file"},
		{&pathError{"a.png", ErrTooManyBytes}, "imageprep: a.png: input is larger than 67108864 bytes"},
		{&pathError{"a.png", &SizeError{0, 0}}, "imageprep: a.png: image is empty (0x0 pixels)"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}
