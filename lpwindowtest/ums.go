package lpwindowtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/lpwindow/lpwindow/internal/wire"
)

// socket is one consumer websocket.
type socket struct {
	s             *Server
	ws            *websocket.Conn
	consumerID    string // "" until authenticated
	authenticated bool   // the identity is authenticated (lp.ext): expiry closes with 4401, else 4407
	out           chan []byte
	done          chan struct{}
	once          sync.Once
	expiry        *time.Timer
	// under state.mu:
	metaSubs   map[string]*metaFilter
	dialogSubs map[string]bool
	nfaults    notificationFaultState
}

const socketQueue = 8192

func (s *Server) serveUMS(w http.ResponseWriter, r *http.Request) {
	if !s.knownAccount(w, r) {
		return
	}
	if r.URL.Query().Get("v") != "3" {
		errorJSON(w, http.StatusBadRequest, "v=3 is required")
		return
	}
	var claims *lpClaims
	var headerToken string
	if auth := r.Header.Get("Authorization"); auth != "" {
		// The docs write the scheme "jwt"; third-party code sends "JWT".
		// UNCONFIRMED whether it is case-sensitive: accept both.
		scheme, tok, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "jwt") {
			errorJSON(w, http.StatusUnauthorized, "Authorization must be \"jwt <token>\"")
			return
		}
		c, err := s.idp.verify(tok)
		if err != nil {
			errorJSON(w, http.StatusUnauthorized, "invalid token")
			return
		}
		claims, headerToken = c, tok
		if cp := r.Header.Get("Client-Properties"); cp != "" && !json.Valid([]byte(cp)) {
			errorJSON(w, http.StatusBadRequest, "Client-Properties is not JSON")
			return
		}
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	sk := &socket{s: s, ws: ws, out: make(chan []byte, socketQueue), done: make(chan struct{}),
		metaSubs: map[string]*metaFilter{}, dialogSubs: map[string]bool{}}
	s.state.mu.Lock()
	s.state.sockets[sk] = struct{}{}
	s.state.wg.Add(1)
	if claims != nil {
		sk.authenticateLocked(claims)
	}
	s.state.mu.Unlock()
	go sk.writeLoop()
	if claims != nil {
		// ExpireTokens may have run between the check and registration.
		if _, err := s.idp.verify(headerToken); err != nil {
			sk.expire()
		}
	} else {
		t := time.AfterFunc(s.opts.AuthTimeout, func() {
			if sk.id() == "" {
				sk.close(websocket.StatusPolicyViolation, "InitConnection not received in time")
			}
		})
		defer t.Stop()
	}
	sk.readLoop()
}

func (sk *socket) id() string {
	sk.s.state.mu.Lock()
	defer sk.s.state.mu.Unlock()
	return sk.consumerID
}

func (sk *socket) authenticateLocked(c *lpClaims) {
	sk.consumerID = c.Subject
	sk.authenticated = c.Ext != nil
	sk.s.state.bump()
	if c.ExpiresAt != nil {
		sk.expiry = time.AfterFunc(time.Until(c.ExpiresAt.Time), sk.expire)
	}
}

// expire closes the socket as LivePerson does when its token expires
// (reference §3.5).
func (sk *socket) expire() {
	if sk.authenticated {
		sk.close(4401, "token expired")
	} else {
		sk.close(4407, "identity expired")
	}
}

func (sk *socket) readLoop() {
	defer sk.drop()
	for {
		typ, data, err := sk.ws.Read(context.Background())
		if err != nil {
			return
		}
		sk.s.frames.add(In, sk.id(), data)
		if typ != websocket.MessageText {
			continue
		}
		f, err := wire.Decode(data)
		if err != nil || f.ID == "" || f.Type == "" || (f.Kind != wire.KindRequest && f.RawKind != "") {
			sk.s.log.Info("lpwindowtest: ignoring a frame that is not a request", "err", err)
			continue
		}
		if d := sk.s.faults.delayFor(f.Type); d > 0 {
			sk.s.state.wg.Add(1)
			go func() {
				defer sk.s.state.wg.Done()
				select {
				case <-time.After(d):
					sk.handle(f)
				case <-sk.done:
				}
			}()
			continue
		}
		sk.handle(f)
	}
}

func (sk *socket) writeLoop() {
	defer sk.s.state.wg.Done()
	for {
		select {
		case b := <-sk.out:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := sk.ws.Write(ctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				sk.drop()
				return
			}
			sk.s.frames.add(Out, sk.id(), b)
		case <-sk.done:
			return
		}
	}
}

// enqueue queues a frame; a client too slow to drain 8192 frames is
// dropped. Safe with or without state.mu held.
func (sk *socket) enqueue(b []byte) {
	select {
	case sk.out <- b:
	case <-sk.done:
	default:
		sk.s.log.Warn("lpwindowtest: client not reading; dropping its socket")
		go sk.close(websocket.StatusPolicyViolation, "client too slow")
	}
}

// sendNotification applies the notification faults, then enqueues
// (state.mu held).
func (sk *socket) sendNotification(typ string, body json.RawMessage) {
	for _, b := range sk.nfaults.apply(sk.s.faults, notificationFrame(typ, body)) {
		sk.enqueue(b)
	}
	if n := &sk.nfaults; n.held != nil && n.flush == nil {
		n.flush = time.AfterFunc(heldFlush, func() {
			sk.s.state.mu.Lock()
			defer sk.s.state.mu.Unlock()
			if n.held != nil {
				sk.enqueue(n.held)
				n.held = nil
			}
			n.flush = nil
		})
	}
}

// close sends a close frame with code and drops the socket.
func (sk *socket) close(code websocket.StatusCode, reason string) {
	sk.once.Do(func() {
		sk.unregister()
		close(sk.done)
		_ = sk.ws.Close(code, reason)
	})
}

// drop closes the socket abruptly, without a close frame.
func (sk *socket) drop() {
	sk.once.Do(func() {
		sk.unregister()
		close(sk.done)
		_ = sk.ws.CloseNow()
	})
}

func (sk *socket) unregister() {
	st := sk.s.state
	st.mu.Lock()
	if sk.expiry != nil {
		sk.expiry.Stop()
	}
	delete(st.sockets, sk)
	st.bump()
	st.mu.Unlock()
}

// reply is a response to send.
type reply struct {
	code int
	typ  string
	body any    // marshalled; a string becomes a JSON string
	then func() // runs right after the response is queued (snapshots, replays)
}

func ok(typ string, body any) reply { return reply{code: 200, typ: typ, body: body} }

func fail(code int, format string, args ...any) reply {
	return reply{code: code, typ: stringResp, body: fmt.Sprintf(format, args...)}
}

const stringResp = ".ReqBody$StringResp"

func (sk *socket) respond(f *wire.Frame, r reply) {
	var body json.RawMessage
	if r.body != nil {
		body, _ = json.Marshal(r.body)
	}
	sk.enqueue(wire.AppendResponse(nil, wire.Response{ReqID: f.ID, Type: r.typ, Code: r.code, Body: body}))
}

// handle answers one request. The state changes and their notifications
// happen under the state lock, the response is queued first.
func (sk *socket) handle(f *wire.Frame) {
	st := sk.s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	if code, ok := sk.s.faults.failFor(f.Type); ok {
		sk.respond(f, fail(code, "injected failure"))
		return
	}
	if sk.consumerID == "" {
		if f.Type != "InitConnection" {
			sk.respond(f, fail(401, "InitConnection must be the first request"))
			return
		}
		c, err := sk.s.idp.verifyInitHeaders(f.Headers)
		if err != nil {
			sk.respond(f, fail(401, "%v", err))
			return
		}
		sk.authenticateLocked(c)
		sk.respond(f, ok(stringResp, "OK"))
		return
	}
	t := st.begin()
	h := handlers[f.Type]
	var r reply
	if h == nil {
		r = fail(400, "unknown request type %q", f.Type)
	} else {
		r = h(sk, t, f)
	}
	sk.respond(f, r)
	if r.then != nil {
		r.then()
	}
	t.flush()
}

// verifyInitHeaders checks InitConnection's headers (reference §4.3).
func (p *idp) verifyInitHeaders(raw json.RawMessage) (*lpClaims, error) {
	var hs []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &hs); err != nil {
		var one map[string]json.RawMessage // a bare object for a one-element array
		if json.Unmarshal(raw, &one) != nil {
			return nil, errors.New("headers must be an array of header objects")
		}
		hs = append(hs, one)
	}
	for _, h := range hs {
		var typ, tok string
		_ = json.Unmarshal(h["type"], &typ)
		if typ != ".ams.headers.ConsumerAuthentication" {
			continue
		}
		if json.Unmarshal(h["jwt"], &tok) != nil || tok == "" || len(tok) > 2048 {
			return nil, errors.New("ConsumerAuthentication needs a jwt of 1 to 2048 characters")
		}
		c, err := p.verify(tok)
		if err != nil {
			return nil, errors.New("invalid token")
		}
		return c, nil
	}
	return nil, errors.New("no .ams.headers.ConsumerAuthentication header")
}
