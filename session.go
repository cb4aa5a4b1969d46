package lpwindow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/lpwindow/lpwindow/internal/wire"
)

// session is one authenticated websocket. Its reader routes responses to
// pending calls by reqId and notifications to subscribers; writes are
// serialised by a semaphore that callers acquire with their own context,
// while the frame itself is written under the session's write timeout, so
// a caller's short deadline never cuts a frame and kills the socket.
type session struct {
	c     *Conn
	ws    *websocket.Conn
	rwc   io.Closer // the raw connection under ws, to cut a stalled close
	token Token

	// Reads and writes use context.Background(): a context with a Done
	// channel makes the websocket library arm a timer per frame, and its
	// expiry mid-frame would kill the socket. The write timeout is one
	// reusable timer instead, and ending the session closes the socket.
	writeTimer *time.Timer
	sem        chan struct{} // write lock
	done       chan struct{} // closed when the session ends

	mu      sync.Mutex
	pending map[string]*call
	err     error // why the session ended; set once
}

// call is a request waiting for its response.
type call struct {
	ch chan *wire.Frame // 1-buffered; the reader never blocks on it
}

// connect dials, authenticates and starts the session's reader. With a
// stale token (refused by the server), a Renewer token source is asked for
// another.
func (c *Conn) connect(ctx context.Context, stale *Token) (*session, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	var tok Token
	var err error
	if r, ok := c.cfg.Token.(Renewer); ok && stale != nil {
		tok, err = r.Renew(ctx, *stale)
	} else {
		tok, err = c.cfg.Token.Token(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("lpwindow: getting a token: %w", err)
	}
	if tok.JWT == "" || len(tok.JWT) > maxJWTLen {
		return nil, invalidf(ErrInvalidConfig, "the token source returned a JWT of %d bytes (want 1 to %d)", len(tok.JWT), maxJWTLen)
	}
	capture := &captureTransport{base: c.cfg.HTTPClient.Transport}
	hc := *c.cfg.HTTPClient
	hc.Transport = capture
	opts := &websocket.DialOptions{HTTPClient: &hc}
	if c.cfg.Auth == AuthHeaders {
		props, err := c.cfg.ClientProperties.encode(clientPropertiesHeaderType)
		if err != nil {
			return nil, err
		}
		opts.HTTPHeader = http.Header{
			"Authorization":     {"jwt " + tok.JWT},
			"Client-Properties": {string(props)},
		}
	}
	ws, resp, err := websocket.Dial(ctx, c.cfg.websocketURL(), opts)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, handshakeError(resp, c.cfg.Account)
		}
		return nil, fmt.Errorf("lpwindow: dialing %s: %w", c.cfg.Domains.AsyncMessagingEnt, dialCause(ctx, err))
	}
	ws.SetReadLimit(c.cfg.ReadLimit)
	s := &session{
		c: c, ws: ws, rwc: capture.rwc, token: tok,
		sem:     make(chan struct{}, 1),
		done:    make(chan struct{}),
		pending: make(map[string]*call),
	}
	s.writeTimer = time.AfterFunc(time.Hour, func() {
		s.end(fmt.Errorf("writing a frame took more than %s", c.cfg.WriteTimeout), false)
	})
	s.writeTimer.Stop()
	c.group.Go(s.readLoop)
	if c.cfg.Auth == AuthInitConnection {
		headers, err := initConnectionHeaders(c.cfg.ClientProperties, tok.JWT)
		if err == nil {
			_, err = s.roundTrip(ctx, outgoing{typ: "InitConnection", headers: headers})
		}
		if err != nil {
			s.end(fmt.Errorf("InitConnection failed: %w", err), false)
			return nil, fmt.Errorf("lpwindow: InitConnection: %w", dialCause(ctx, err))
		}
	}
	c.log.Debug("lpwindow: connected", "auth", c.cfg.Auth.String(), "consumerId", tok.ConsumerID)
	return s, nil
}

// dialCause says "timed out" plainly when the dial deadline passed.
func dialCause(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	}
	return err
}

func handshakeError(resp *http.Response, account string) error {
	var body []byte
	if resp.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
	}
	return &HTTPError{
		StatusCode: resp.StatusCode,
		Service:    "asyncMessagingEnt",
		Endpoint:   "GET /ws_api/account/" + account + "/messaging/consumer",
		Body:       strings.TrimSpace(string(body)),
	}
}

// roundTrip writes a request and waits for its response.
func (s *session) roundTrip(ctx context.Context, req outgoing) (*Response, error) {
	id := uuid.NewString()
	cl := &call{ch: make(chan *wire.Frame, 1)}
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return nil, s.lost(req.typ, false, err)
	}
	s.pending[id] = cl
	s.mu.Unlock()

	frame := wire.AppendRequest(make([]byte, 0, 96+len(req.body)+len(req.headers)+len(req.metadata)), wire.Request{
		ID: id, Type: req.typ, Body: req.body, Headers: req.headers, Metadata: req.metadata,
	})
	if started, err := s.write(ctx, frame); err != nil {
		s.forget(id)
		if cerr := ctx.Err(); cerr != nil && !started && s.cause() == nil {
			return nil, fmt.Errorf("lpwindow: %s: %w", req.typ, cerr)
		}
		// A frame cut half-way is never processed, but one whose write
		// failed after the bytes left may have been: say so.
		return nil, s.lost(req.typ, started, err)
	}
	select {
	case f := <-cl.ch:
		return s.c.response(req.typ, f)
	case <-ctx.Done():
		s.forget(id)
		select {
		case f := <-cl.ch: // it arrived as we gave up
			return s.c.response(req.typ, f)
		default:
		}
		return nil, fmt.Errorf("lpwindow: %s: %w", req.typ, ctx.Err())
	case <-s.done:
		select {
		case f := <-cl.ch:
			return s.c.response(req.typ, f)
		default:
		}
		return nil, s.lost(req.typ, true, s.cause())
	}
}

func (s *session) lost(typ string, sent bool, cause error) error {
	if errors.Is(cause, ErrClosed) {
		return fmt.Errorf("lpwindow: %s: %w", typ, ErrClosed)
	}
	return &ConnectionLostError{RequestType: typ, Sent: sent, Cause: cause}
}

func (c *Conn) response(typ string, f *wire.Frame) (*Response, error) {
	if f.Code >= 400 {
		return nil, &APIError{Code: f.Code, Type: f.Type, ReqID: f.ReqID, RequestType: typ, Body: f.Body}
	}
	return &Response{Type: f.Type, Code: f.Code, ReqID: f.ReqID, Body: f.Body}, nil
}

func (s *session) forget(id string) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

func (s *session) cause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// write sends one frame. ctx only bounds the wait for the write lock.
// started reports whether the frame was handed to the socket.
func (s *session) write(ctx context.Context, p []byte) (started bool, err error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	case <-s.done:
		return false, s.cause()
	}
	defer func() { <-s.sem }()
	if err := s.cause(); err != nil {
		return false, err
	}
	s.writeTimer.Reset(s.c.cfg.WriteTimeout)
	err = s.ws.Write(context.Background(), websocket.MessageText, p)
	s.writeTimer.Stop()
	if err != nil {
		s.end(fmt.Errorf("writing a frame: %w", err), false)
		return true, s.cause()
	}
	s.c.stats.framesOut.Add(1)
	return true, nil
}

func (s *session) readLoop() {
	for {
		typ, data, err := s.ws.Read(context.Background())
		if err != nil {
			s.end(s.readError(err), false)
			return
		}
		s.c.stats.framesIn.Add(1)
		if typ != websocket.MessageText {
			s.c.stats.malformed.Add(1)
			s.c.log.Warn("lpwindow: skipping a binary frame", "bytes", len(data))
			continue
		}
		s.handle(data)
	}
}

func (s *session) readError(err error) error {
	var ce websocket.CloseError
	switch {
	case s.cause() != nil:
		return s.cause() // the session was ended on purpose
	case errors.As(err, &ce):
		return &CloseError{Code: int(ce.Code), Reason: ce.Reason}
	case errors.Is(err, websocket.ErrMessageTooBig):
		return fmt.Errorf("%w of %d bytes", ErrFrameTooLarge, s.c.cfg.ReadLimit)
	}
	return fmt.Errorf("reading: %w", err)
}

// handle routes one frame. It never blocks and never runs user code.
func (s *session) handle(data []byte) {
	f, err := wire.Decode(data)
	if err != nil {
		s.c.stats.malformed.Add(1)
		s.c.log.Warn("lpwindow: skipping a malformed frame", "err", err, "bytes", len(data))
		return
	}
	switch f.Kind {
	case wire.KindResponse:
		s.mu.Lock()
		cl, ok := s.pending[f.ReqID]
		if ok {
			delete(s.pending, f.ReqID)
		}
		s.mu.Unlock()
		if !ok {
			s.c.stats.unmatched.Add(1)
			s.c.log.Debug("lpwindow: response matches no pending request", "reqId", truncate(f.ReqID, 64), "type", truncate(f.Type, 64))
			return
		}
		cl.ch <- f
	case wire.KindNotification:
		if !s.c.subs.dispatch(f.Type, f.Body) {
			s.c.stats.unrouted.Add(1)
			s.c.log.Debug("lpwindow: no subscription for a notification", "type", truncate(f.Type, 64))
		}
	default:
		s.c.stats.malformed.Add(1)
		s.c.log.Warn("lpwindow: skipping a frame of unknown kind", "kind", truncate(f.RawKind, 64), "type", truncate(f.Type, 64))
	}
}

// end ends the session once: pending calls fail with cause, the socket
// closes (with a close handshake when graceful).
func (s *session) end(cause error, graceful bool) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = cause
	s.pending = nil
	s.mu.Unlock()
	close(s.done)
	if graceful {
		closed := make(chan struct{})
		go func() {
			_ = s.ws.Close(websocket.StatusNormalClosure, "")
			close(closed)
		}()
		t := time.NewTimer(s.c.cfg.CloseTimeout)
		select {
		case <-closed:
		case <-t.C:
			// The peer did not complete the handshake. CloseNow would
			// only wait for Close, so cut the connection under it.
			if s.rwc != nil {
				_ = s.rwc.Close()
			}
			<-closed
		}
		t.Stop()
	}
	s.writeTimer.Stop()
	_ = s.ws.CloseNow()
}

// heartbeatLoop sends GetClock every HeartbeatInterval; no answer within
// HeartbeatTimeout means a half-open socket, and the session ends.
func (s *session) heartbeatLoop() {
	cfg := &s.c.cfg
	if cfg.HeartbeatInterval < 0 {
		return
	}
	t := time.NewTicker(cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), cfg.HeartbeatTimeout)
		_, err := s.c.syncClock(ctx, s)
		cancel()
		var apiErr *APIError
		switch {
		case err == nil:
		case s.cause() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			s.end(fmt.Errorf("%w within %s", ErrHeartbeatTimeout, cfg.HeartbeatTimeout), false)
			return
		case errors.As(err, &apiErr):
			s.c.log.Debug("lpwindow: heartbeat answered with an error; the socket is alive", "code", apiErr.Code)
		default:
			s.c.log.Debug("lpwindow: heartbeat", "err", err)
		}
	}
}

// captureTransport remembers the connection of a websocket handshake (the
// 101 response's body), so that a stalled close can be cut.
type captureTransport struct {
	base http.RoundTripper
	rwc  io.Closer
}

func (t *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		if c, ok := resp.Body.(io.Closer); ok {
			t.rwc = c
		}
	}
	return resp, err
}
