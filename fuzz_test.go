package lpwindow

import (
	"github.com/lpwindow/lpwindow/internal/wire"
	"os"
	"path/filepath"
	"testing"
)

// FuzzHandleFrame feeds arbitrary frames to the reader's routing (decode,
// response correlation, notification fan-out). Nothing may panic.
func FuzzHandleFrame(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "shared", "protocol", "examples", "*.json"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"kind":"resp","reqId":"pending","code":200,"body":{}}`,
		`{"kind":"resp","reqId":"pending","code":500,"body":"x"}`,
		`{"kind":"notification","type":"ms.MessagingEventNotification","body":{"changes":[]}}`,
		`{"type":"X"}`, `[]`, `garbage`,
	} {
		f.Add([]byte(s))
	}
	cfg, err := Config{Account: "1", Domains: Domains{AsyncMessagingEnt: "127.0.0.1:1"}, Token: TokenFunc(nil), Insecure: true, QueueSize: 4}.normalized()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &Conn{cfg: cfg, log: cfg.Logger}
		sub := &Subscription{c: c, handler: func(*Notification) {}, queue: make(chan *Notification, 4), quit: make(chan struct{})}
		c.subs.add(sub)
		s := &session{c: c, pending: map[string]*call{"pending": {ch: make(chan *wire.Frame, 1)}}}
		s.handle(data)
	})
}
