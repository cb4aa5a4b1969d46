package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockedBuffer lets the test read what the chat writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestChatWithTheBot(t *testing.T) {
	t.Setenv("LP_ACCOUNT", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in, typist := io.Pipe()
	var out lockedBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, in, &out) }()
	say := func(line, want string) {
		t.Helper()
		_, err := io.WriteString(typist, line+"\n")
		require.NoError(t, err)
		require.Eventually(t, func() bool { return strings.Contains(out.String(), want) }, 10*time.Second, 10*time.Millisecond, out.String())
	}
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "agent: Hi!") }, 10*time.Second, 10*time.Millisecond, out.String())
	say("hello there", "agent: You said: hello there")
	say("help", "/2 bye")
	say("/7", "! unknown command /7")
	img := filepath.Join(t.TempDir(), "dot.gif")
	require.NoError(t, os.WriteFile(img, []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"), 0o600))
	say("/file "+img, "(sent dot.gif: 43 bytes, GIF)")
	say("/file /nonexistent.png", "! open /nonexistent.png")
	say("/1", "agent: You said: hello")   // the quick reply's text
	say("/2", "the conversation is over") // "bye": the bot closes it
	require.NoError(t, <-done)
	typist.Close()
	assert.Contains(t, out.String(), "(an agent joined)")
}
