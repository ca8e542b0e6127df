// Package regfile opens files for reading only if they are regular files. A FIFO, device or
// directory is refused before it is opened (opening a FIFO for reading blocks until a writer
// appears; a device may never end), and checked again on the open file, in case the path was
// replaced between the two.
package regfile

import (
	"fmt"
	"os"
)

// Check returns an error unless fi, the information of path, is a regular file:
// "PATH is a directory, not WHAT" or "PATH is not a regular file (MODE)".
func Check(path string, fi os.FileInfo, what string) error {
	switch {
	case fi.IsDir():
		return fmt.Errorf("%s is a directory, not %s", path, what)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file (%v)", path, fi.Mode().Type())
	}
	return nil
}

// Open opens path for reading if it is a regular file (or a link to one), and returns the
// open file's information. what names the file expected in Check's error.
func Open(path, what string) (*os.File, os.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := Check(path, fi, what); err != nil {
		return nil, nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	if fi, err = f.Stat(); err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := Check(path, fi, what); err != nil { // replaced between Stat and Open
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}
