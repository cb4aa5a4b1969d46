package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lpwindow/lpwindow"
)

// syncBuffer is a bytes.Buffer safe for the test and serve to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestServe(t *testing.T) {
	var out, errOut syncBuffer
	stop := make(chan struct{})
	done := make(chan int)
	go func() { done <- run([]string{"serve", "-addr", "127.0.0.1:0", "-account", "555"}, &out, &errOut, stop) }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Stop with Ctrl-C") }, 10*time.Second, 10*time.Millisecond, errOut.String())

	// curl -X POST .../signup returns a JWT the websocket accepts.
	signup := regexp.MustCompile(`curl -X POST (\S+)`).FindStringSubmatch(out.String())
	require.Len(t, signup, 2)
	resp, err := http.Post(signup[1], "application/json", nil)
	require.NoError(t, err)
	var body struct{ JWT string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	resp.Body.Close()
	host := regexp.MustCompile(`on (127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String())[1]
	for _, tok := range []string{body.JWT, regexp.MustCompile(`\n\n(eyJ\S+)\n`).FindStringSubmatch(out.String())[1]} {
		ts, err := lpwindow.StaticToken(tok)
		require.NoError(t, err)
		c, err := lpwindow.Dial(context.Background(), lpwindow.Config{Account: "555", Domains: lpwindow.Domains{AsyncMessagingEnt: host}, Token: ts, Insecure: true})
		require.NoError(t, err)
		_, err = c.Request(context.Background(), "GetClock", nil)
		assert.NoError(t, err)
		c.Close()
	}
	close(stop)
	assert.Equal(t, 0, <-done)
}

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, run(nil, &out, &errOut, nil))
	assert.Equal(t, 2, run([]string{"bogus"}, &out, &errOut, nil))
	assert.Equal(t, 2, run([]string{"serve", "-nope"}, &out, &errOut, nil))
	assert.Equal(t, 1, run([]string{"serve", "-addr", "10.1.2.3:80"}, &out, &errOut, nil), "non-loopback refused")
	assert.Equal(t, 0, run([]string{"help"}, &out, &errOut, nil))
}
