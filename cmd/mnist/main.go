// Command mnist trains MLPs on real MNIST with tinyq, quantizes them, and prints what each
// choice costs in accuracy, size and speed. See the README for the flags and the JSON schema.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"tinyq/qkernel"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	var ue usageError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "mnist:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "mnist:", err)
		os.Exit(1)
	}
}

// usageError is a bad flag or flag value: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// run is the whole command: parse args, load data, train, quantize, report.
func run(args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := qkernel.RequestError(); err != nil {
		return usageError{err.Error()}
	}
	return execute(opts, stdout, stderr)
}
