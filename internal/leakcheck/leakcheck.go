// Package leakcheck finds goroutines left running by the SDK, for tests.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// SDK marks goroutines that are running the SDK's own code. A goroutine
// that has finished that code and is only returning (through the group's
// wrapper, or already in runtime.goexit) does not match: its work is done.
var SDK = []string{
	"github.com/lpwindow/lpwindow.(*session)",
	"github.com/lpwindow/lpwindow.(*Conn)",
	"github.com/lpwindow/lpwindow.(*Subscription)",
	"github.com/lpwindow/lpwindow.(*router)",
	"github.com/lpwindow/lpwindow.(*Conversation)",
}

// Any marks goroutines of the SDK, of its goroutine group or of the
// websocket library under it; Main waits for all of them to be gone.
var Any = append([]string{"github.com/coder/websocket", "github.com/lpwindow/lpwindow/internal/routine."}, SDK...)

// Find returns the stacks of other goroutines that contain any marker.
func Find(markers []string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 { // the calling goroutine comes first
			continue
		}
		frames := executing(g)
		for _, m := range markers {
			if strings.Contains(frames, m) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// Wait polls until no goroutine carries a marker or d passes, and returns
// what is left.
func Wait(markers []string, d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		left := Find(markers)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Main runs the tests and then fails the run if SDK or websocket goroutines
// are still alive 5 seconds later.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if left := Wait(Any, 5*time.Second); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "leakcheck: %d goroutines outlived the tests:\n\n%s\n", len(left), strings.Join(left, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// executing returns the frames a goroutine is executing: its stack less the
// "created by" line and the file line after it.
func executing(g string) string {
	lines := strings.Split(g, "\n")
	var b strings.Builder
	for i := 0; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "created by ") {
			i++ // and its file:line
			continue
		}
		b.WriteString(lines[i])
		b.WriteByte('\n')
	}
	return b.String()
}
