package lpwindow

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/lpwindow/lpwindow/internal/wire"
)

// testJWT returns a consumer JWT for sub (HS256: the SDK never verifies).
func testJWT(t testing.TB, sub string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": sub, "aud": "acc:123", "iss": "https://idp.liveperson.net",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte("test-secret-key-that-is-long-enough"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// umsServer is a minimal UMS websocket server for the connection manager's
// tests: it authenticates (headers or InitConnection), answers GetClock,
// and hands every other request to onRequest (default: 200 echoing the body).
type umsServer struct {
	t   testing.TB
	jwt string

	// Set before the first dial.
	onRequest     func(sc *serverConn, f *wire.Frame) // nil: reply 200 with the request body
	onConnect     func(sc *serverConn)                // runs after authentication
	answerClock   bool                                // answer GetClock (default true via newUMSServer)
	clockCode     int                                 // GetClock's answer code (default 200)
	holdHandshake chan struct{}                       // if set, the handshake waits on it
	holdInit      bool                                // never answer InitConnection
	initGate      chan struct{}                       // if set, InitConnection is answered once it closes
	initCode      int                                 // InitConnection answer code (default 200)

	mu     sync.Mutex
	conns  []*serverConn
	frames []*wire.Frame
	header http.Header // the last handshake's headers
	url    string      // the last handshake's request URI

	srv *httptest.Server
}

type serverConn struct {
	ws  *websocket.Conn
	ctx context.Context
	wmu sync.Mutex
}

func (sc *serverConn) send(t testing.TB, b []byte) {
	sc.sendType(t, websocket.MessageText, b)
}

func (sc *serverConn) sendType(t testing.TB, typ websocket.MessageType, b []byte) {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	ctx, cancel := context.WithTimeout(sc.ctx, 10*time.Second)
	defer cancel()
	_ = sc.ws.Write(ctx, typ, b) // the client may be gone; tests check what the client saw
}

func (sc *serverConn) reply(t testing.TB, f *wire.Frame, code int, typ string, body string) {
	var raw json.RawMessage
	if body != "" {
		raw = json.RawMessage(body)
	}
	sc.send(t, wire.AppendResponse(nil, wire.Response{ReqID: f.ID, Type: typ, Code: code, Body: raw}))
}

func (sc *serverConn) notify(t testing.TB, typ, body string) {
	sc.send(t, wire.AppendNotification(nil, typ, json.RawMessage(body)))
}

func newUMSServer(t testing.TB) *umsServer {
	t.Helper()
	s := &umsServer{t: t, jwt: testJWT(t, "consumer-1"), answerClock: true, initCode: 200}
	return s
}

// start serves on 127.0.0.1.
func (s *umsServer) start() *umsServer {
	s.srv = httptest.NewServer(s)
	s.t.Cleanup(s.close)
	return s
}

func (s *umsServer) close() {
	s.mu.Lock()
	conns := s.conns
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.ws.CloseNow()
	}
	if s.srv != nil {
		s.srv.Close()
	}
}

func (s *umsServer) config(mode AuthMode) Config {
	return Config{
		Account:           "123",
		Domains:           Domains{AsyncMessagingEnt: strings.TrimPrefix(s.srv.URL, "http://")},
		Insecure:          true,
		Token:             mustStatic(s.t, s.jwt),
		Auth:              mode,
		HeartbeatInterval: -1,
		DialTimeout:       5 * time.Second,
	}
}

func mustStatic(t testing.TB, j string) TokenSource {
	ts, err := StaticToken(j)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// conn returns the i-th accepted connection, waiting for the server side
// to record it (the client may finish the handshake first).
func (s *umsServer) conn(i int) *serverConn {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		if i < len(s.conns) {
			sc := s.conns[i]
			s.mu.Unlock()
			return sc
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			s.t.Fatalf("server: connection %d never arrived", i)
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *umsServer) received() []*wire.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*wire.Frame(nil), s.frames...)
}

func (s *umsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.holdHandshake != nil {
		<-s.holdHandshake
		return
	}
	if r.URL.Path != "/ws_api/account/123/messaging/consumer" || r.URL.Query().Get("v") != "3" {
		http.Error(w, "wrong path", http.StatusNotFound)
		return
	}
	headerAuth := r.Header.Get("Authorization") != ""
	if headerAuth && r.Header.Get("Authorization") != "jwt "+s.jwt {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	s.header = r.Header.Clone()
	s.url = r.URL.RequestURI()
	s.mu.Unlock()
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(-1)
	sc := &serverConn{ws: ws, ctx: context.Background()}
	s.mu.Lock()
	s.conns = append(s.conns, sc)
	s.mu.Unlock()
	defer ws.CloseNow()
	authed := headerAuth
	if authed && s.onConnect != nil {
		s.onConnect(sc)
	}
	for {
		_, data, err := ws.Read(context.Background())
		if err != nil {
			return
		}
		f, err := wire.Decode(data)
		if err != nil {
			s.t.Errorf("server: client sent a malformed frame: %v", err)
			return
		}
		s.mu.Lock()
		s.frames = append(s.frames, f)
		s.mu.Unlock()
		switch {
		case !authed:
			if f.Type != "InitConnection" {
				sc.reply(s.t, f, 401, ".ReqBody$StringResp", `"InitConnection must come first"`)
				continue
			}
			if s.holdInit {
				continue
			}
			if s.initGate != nil {
				<-s.initGate
			}
			var hs []map[string]any
			_ = json.Unmarshal(f.Headers, &hs)
			ok := false
			for _, h := range hs {
				if h["type"] == consumerAuthType && h["jwt"] == s.jwt {
					ok = true
				}
			}
			if !ok || s.initCode != 200 {
				code := s.initCode
				if !ok {
					code = 401
				}
				sc.reply(s.t, f, code, ".ReqBody$StringResp", `"unauthorized"`)
				continue
			}
			authed = true
			sc.reply(s.t, f, 200, ".ReqBody$StringResp", `"OK"`)
			if s.onConnect != nil {
				s.onConnect(sc)
			}
		case f.Type == "GetClock":
			switch {
			case !s.answerClock:
			case s.clockCode != 0 && s.clockCode != 200:
				sc.reply(s.t, f, s.clockCode, ".ReqBody$StringResp", `"clock failed"`)
			default:
				sc.reply(s.t, f, 200, "GenericResponse", fmt.Sprintf(`{"currentTime":%d}`, time.Now().UnixMilli()))
			}
		case s.onRequest != nil:
			s.onRequest(sc, f)
		default:
			body := string(f.Body)
			sc.reply(s.t, f, 200, "EchoResponse", body)
		}
	}
}

// pipeTransport serves websocket handshakes in memory over net.Pipe, so
// tests can run inside a testing/synctest bubble.
type pipeTransport struct{ h http.Handler }

func (p pipeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	client, server := net.Pipe()
	hj := &pipeHijacker{ResponseRecorder: httptest.NewRecorder(), conn: server, hijacked: make(chan struct{})}
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		p.h.ServeHTTP(hj, r)
	}()
	select {
	case <-hj.hijacked:
	case <-returned:
	}
	resp := hj.Result()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body = client
	} else {
		client.Close()
		server.Close()
	}
	return resp, nil
}

type pipeHijacker struct {
	*httptest.ResponseRecorder
	conn     net.Conn
	hijacked chan struct{}
}

func (h *pipeHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	defer close(h.hijacked)
	return h.conn, bufio.NewReadWriter(bufio.NewReader(h.conn), bufio.NewWriter(h.conn)), nil
}
