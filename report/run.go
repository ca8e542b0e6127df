package report

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"tinyq/infer"
	"tinyq/modelfile"
	"tinyq/ptq"
)

// PTQ measures the standard PTQ table of fp32 (ptq.Table, calibrated on calib) on images and
// labels: one Row per variant with its note, each variant also added to saved, to be written
// with the training record training (infer.SaveFloat or infer.SaveInt). A variant that could
// not be made is given to skipped (its name and why) instead.
func PTQ(fp32 *infer.FloatModel, calib, images []float32, labels []uint8, saved *modelfile.Set, training string, skipped func(name, why string)) ([]Row, error) {
	vs, err := ptq.Table(fp32, calib)
	if err != nil {
		return nil, err
	}
	var rows []Row
	for _, v := range vs {
		if v.Skipped != "" {
			skipped(v.Name, v.Skipped)
			continue
		}
		row, err := Measure(v.Name, v.Model(), images, labels)
		if err != nil {
			return nil, err
		}
		row.Note = v.Note
		rows = append(rows, row)
		if v.Float != nil {
			saved.Add(v.Name, func(p string) error { return infer.SaveFloat(p, v.Float, training) })
		} else {
			saved.Add(v.Name, func(p string) error { return infer.SaveInt(p, v.Int, training) })
		}
	}
	return rows, nil
}

// Converted measures im, the integer conversion of the fake-quant model sim named name, as
// the row name + "-int", noting how far it agrees with sim on images (ptq.Compare): the share
// of equal predictions and the largest logit difference, also in output steps (LSBs).
func Converted(name string, sim *infer.FloatModel, im *infer.IntModel, images []float32, labels []uint8) (Row, error) {
	row, err := Measure(name+"-int", im, images, labels)
	if err != nil {
		return Row{}, err
	}
	ag, err := ptq.Compare(sim, im, images)
	if err != nil {
		return Row{}, err
	}
	row.Note = fmt.Sprintf("integer runtime; agrees with %s on %.2f%% of predictions; largest logit difference %.4g (%.0f output LSBs of s_in·s_w)", name, ag.Percent, ag.MaxAbs, ag.MaxLSB)
	return row, nil
}

// QAT measures a quantization-aware model named name: its fake-quant simulation sim as the
// row name (no weight bytes: it is stored as float32, its integer size is the other row's),
// with its training's epoch seconds and note, and its integer conversion im as Converted does.
func QAT(name string, sim *infer.FloatModel, im *infer.IntModel, epochSeconds []float64, note string, images []float32, labels []uint8) (fake, integer Row, err error) {
	if fake, err = Measure(name, sim, images, labels); err != nil {
		return Row{}, Row{}, err
	}
	fake.WeightBytes, fake.EpochSeconds, fake.Note = 0, epochSeconds, note
	if integer, err = Converted(name, sim, im, images, labels); err != nil {
		return Row{}, Row{}, err
	}
	return fake, integer, nil
}

// Lenient returns a writer that passes writes to w until one fails, then drops the rest; it
// never reports an error, so that a closed stdout (a pipe to head) does not stop a run from
// writing its files.
func Lenient(w io.Writer) io.Writer { return &lenientWriter{w: w} }

// lenientWriter is Lenient's writer; err is the first failure.
type lenientWriter struct {
	w   io.Writer
	err error
}

// Write passes p to w unless a write has failed, and reports success either way.
func (l *lenientWriter) Write(p []byte) (int, error) {
	if l.err == nil {
		_, l.err = l.w.Write(p)
	}
	return len(p), nil
}

// Progress returns w for progress bars when they are wanted (not quiet) and w is a terminal,
// else nil (no bars: a log file or a pipe would fill with redrawn lines).
func Progress(quiet bool, w io.Writer) io.Writer {
	if f, ok := w.(*os.File); ok && !quiet && term.IsTerminal(int(f.Fd())) {
		return w
	}
	return nil
}

// Output says where a run's results go besides the table.
type Output struct {
	JSON   string    // file for the Document as JSON; "-" writes it to Stdout; "": none
	Stdout io.Writer // where JSON "-" goes
	Dir    string    // directory for the saved models (modelfile.Set.Write); "": none
	Run    any       // the run's configuration, for the models' manifest
}

// Publish writes a run's results, each output independent of the others: the table of doc's
// rows to w (whose errors are ignored: see Lenient), the JSON document, then the models of
// saved, noting each file written to w. A failure is named in failed and the rest is still
// written.
func Publish(w io.Writer, doc Document, out Output, saved *modelfile.Set) (failed []string) {
	_ = Table(w, doc.Results)
	switch {
	case out.JSON == "-":
		if err := EncodeJSON(out.Stdout, doc); err != nil {
			failed = append(failed, "-json to stdout: "+err.Error())
		}
	case out.JSON != "":
		if err := WriteJSON(out.JSON, doc); err != nil {
			failed = append(failed, err.Error())
		} else {
			fmt.Fprintf(w, "wrote %s\n", out.JSON)
		}
	}
	if out.Dir != "" {
		failed = append(failed, saved.Write(out.Dir, out.Run, func(p string) { fmt.Fprintf(w, "saved %s\n", p) })...)
	}
	return failed
}
