package lpwindowtest

import (
	"context"
	"sync"
	"time"

	"github.com/lpwindow/lpwindow/internal/wire"
)

// Direction says which way a frame went.
type Direction int

// Frame directions.
const (
	In  Direction = iota // from the client
	Out                  // to the client
)

// String returns the Direction's name.
func (d Direction) String() string {
	if d == In {
		return "in"
	}
	return "out"
}

// Frame is a websocket frame the server received or sent.
type Frame struct {
	Time       time.Time
	Direction  Direction
	ConsumerID string // "" before the socket authenticated
	Data       []byte // the frame as on the wire
	Kind       string // "req", "resp", "notification" or "" when undecodable
	Type       string
}

// frameLogLimit bounds the log; older frames are forgotten first.
const frameLogLimit = 100_000

type frameLog struct {
	mu      sync.Mutex
	frames  []Frame
	dropped int
	ch      chan struct{}
}

func newFrameLog() *frameLog { return &frameLog{ch: make(chan struct{})} }

func (l *frameLog) add(d Direction, consumerID string, data []byte) {
	f := Frame{Time: time.Now(), Direction: d, ConsumerID: consumerID, Data: data}
	if w, err := wire.Decode(data); err == nil {
		f.Kind, f.Type = w.Kind.String(), w.Type
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.frames) == frameLogLimit {
		l.frames = append(l.frames[:0], l.frames[frameLogLimit/2:]...)
		l.dropped += frameLogLimit / 2
	}
	l.frames = append(l.frames, f)
	close(l.ch)
	l.ch = make(chan struct{})
}

// Frames returns the frames logged so far (the last 100,000 at most).
func (s *Server) Frames() []Frame {
	s.frames.mu.Lock()
	defer s.frames.mu.Unlock()
	return append([]Frame(nil), s.frames.frames...)
}

// WaitFrame returns the first logged frame (from the start of the log)
// for which match is true, waiting for it until ctx ends.
func (s *Server) WaitFrame(ctx context.Context, match func(Frame) bool) (Frame, error) {
	seen := 0
	for {
		s.frames.mu.Lock()
		frames, ch := s.frames.frames, s.frames.ch
		s.frames.mu.Unlock()
		for ; seen < len(frames); seen++ {
			if match(frames[seen]) {
				return frames[seen], nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		}
	}
}
