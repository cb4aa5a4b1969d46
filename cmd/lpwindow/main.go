// Command lpwindow is the lpwindow command-line tool.
//
//	lpwindow serve [flags]   run the fake LivePerson (lpwindowtest) as a process
//
// Run "lpwindow serve -h" for the flags.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, nil))
}

// run executes a subcommand; stop, when not nil, ends serve (for tests).
func run(args []string, stdout, stderr io.Writer, stop <-chan struct{}) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr, stop)
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "lpwindow: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: lpwindow <command> [flags]

commands:
  serve    run a fake LivePerson (Domain API, identity, messaging websocket,
           file storage, a bot) on a loopback address, for tests and demos
`)
}
