package modelfile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"tinyq/internal/atomicfile"
)

// ManifestFile is the file that Set.Write writes last into its directory.
const ManifestFile = "manifest.json"

// Manifest records which run wrote a directory's model files (ManifestFile).
type Manifest struct {
	Run     any               `json:"run"`     // the run's configuration
	Written string            `json:"written"` // when the set was completed, UTC, RFC 3339
	Files   map[string]string `json:"files"`   // file name -> SHA-256 of its contents, hex
}

// Set is the model files of a run, each written by its own function as NAME.safetensors.
type Set struct {
	names []string
	saves []func(path string) error
}

// Add appends a model file, written to path by save.
func (s *Set) Add(name string, save func(path string) error) {
	s.names = append(s.names, name)
	s.saves = append(s.saves, save)
}

// Write writes every model to dir/NAME.safetensors, calling saved after each file (and the
// manifest). A model that fails is named in the returned list, one line each, and the others
// are still written.
//
// The set is bracketed by a manifest: the old ManifestFile is removed before the first file
// is replaced and the new one is written last, listing the run and the SHA-256 of each file
// written. A directory without a manifest, or with files that do not match it, holds an
// interrupted or mixed set, and says so.
func (s *Set) Write(dir string, run any, saved func(path string)) (failed []string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return []string{fmt.Sprintf("%s: %v", dir, err)}
	}
	mp := filepath.Join(dir, ManifestFile)
	if err := os.Remove(mp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return []string{fmt.Sprintf("%s: removing the old %s: %v", dir, ManifestFile, err)}
	}
	m := Manifest{Run: run, Written: time.Now().UTC().Format(time.RFC3339), Files: map[string]string{}}
	for i, name := range s.names {
		p := filepath.Join(dir, name+".safetensors")
		if err := s.saves[i](p); err != nil {
			failed = append(failed, err.Error())
			continue
		}
		sum, err := fileSHA256(p)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		m.Files[filepath.Base(p)] = sum
		saved(p)
	}
	if len(failed) > 0 {
		return append(failed, fmt.Sprintf("%s: no %s written, the set is incomplete", dir, ManifestFile))
	}
	err := atomicfile.Write(mp, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	})
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", mp, err)}
	}
	saved(mp)
	return nil
}

// fileSHA256 returns the hex SHA-256 of a file's contents.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// SetFiles are the files Set.Write writes into dir for a set of the model names given: each
// dir/NAME.safetensors, then the manifest.
func SetFiles(dir string, names []string) []string {
	var ps []string
	for _, n := range names {
		ps = append(ps, filepath.Join(dir, n+".safetensors"))
	}
	return append(ps, filepath.Join(dir, ManifestFile))
}
