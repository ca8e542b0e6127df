// Command mnist trains MLPs on real MNIST with tinyq, quantizes them, and prints what each
// choice costs in accuracy, size and speed. See the README for the flags and the JSON schema.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"tinyq/qkernel"
)

// Exit statuses: 0 success, 1 a failure of the run (data, files), 2 a bad flag or flag value,
// 3 a crash (a bug: please report it with the command line).
const (
	exitFailure = 1
	exitUsage   = 2
	exitCrash   = 3
)

func main() {
	// A closed stdout (mnist ... | head -1) must not kill the run before it writes its files:
	// with SIGPIPE ignored, a write to the broken pipe returns EPIPE, which run treats as
	// non-fatal for the table (see os/signal, "SIGPIPE").
	signal.Ignore(syscall.SIGPIPE)
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	code := exitFailure
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return
	case errors.As(err, new(usageError)):
		code = exitUsage
	case errors.As(err, new(crashError)):
		code = exitCrash
	}
	fmt.Fprintln(os.Stderr, errorLine(err))
	os.Exit(code)
}

// errorLine is the one line printed for err: the program's name once, then the message
// (package errors already start with "mnist: " when they come from the mnist package).
func errorLine(err error) string {
	msg := strings.TrimPrefix(err.Error(), "mnist: ")
	return "mnist: " + strings.ReplaceAll(msg, "\n", "; ")
}

// usageError is a bad flag or flag value: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// crashError is a panic caught at the top of run: exit status 3.
type crashError struct{ value any }

func (e crashError) Error() string {
	return fmt.Sprintf("internal error (a bug, please report it with the command line): %v", e.value)
}

// run is the whole command: parse args, load data, train, quantize, report. A panic is
// returned as a crashError, so that it exits with its own status and one line (the stack
// goes to stderr only with TINYQ_DEBUG=1).
func run(args []string, stdout, stderr io.Writer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if os.Getenv("TINYQ_DEBUG") == "1" {
				fmt.Fprint(stderr, string(debug.Stack()))
			}
			err = crashError{value: r}
		}
	}()
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := qkernel.RequestError(); err != nil {
		return usageError{err.Error()}
	}
	return execute(opts, stdout, stderr)
}
