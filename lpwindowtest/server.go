// Package lpwindowtest is a fake LivePerson for tests and demos, as
// net/http/httptest is to net/http. One server on 127.0.0.1 plays every
// host a consumer touches: the Domain API, the identity provider, the UMS
// messaging websocket, file storage and the agent-profile CDN. A Go API
// plays the agent side (join, send, transfer, close, surveys, CoBrowse and
// call invitations), a built-in bot answers for demos, and fault injection
// drops sockets, closes them with chosen codes, delays or fails requests,
// and duplicates or reorders notifications.
//
// Where the protocol reference leaves behaviour UNCONFIRMED, the fake
// chooses the documented or most conservative form and says so in a
// comment; clients tested against it should accept both forms anyway.
package lpwindowtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/lpwindow/lpwindow"
)

// Options configure a Server. The zero value works; each field's default
// is written beside it.
type Options struct {
	// Addr is the listen address. Default "127.0.0.1:0" (a free port).
	// Only loopback addresses are accepted.
	Addr string
	// TLS serves https and wss with a generated self-signed certificate;
	// Server.HTTPClient trusts it. Default false (http and ws).
	TLS bool
	// Account is the one account the server knows. Default "12345678".
	Account string
	// TokenLifetime is the lifetime of the consumer JWTs it issues.
	// Default 24h.
	TokenLifetime time.Duration
	// ExternalTokenLifetime is the lifetime of anonymous (ACR0) external
	// tokens; RefreshWindow how long after issue one can still be
	// refreshed. Defaults 10m and 730h, as documented.
	ExternalTokenLifetime time.Duration
	RefreshWindow         time.Duration
	// URLLifetime is how long signed file URLs stay valid. Default 60s.
	URLLifetime time.Duration
	// AuthTimeout is how long a socket may stay unauthenticated before it
	// is closed. Default 5s ("a few seconds", reference §4.3).
	AuthTimeout time.Duration
	// SigningKey signs the JWTs the server issues. Default: a new 2048-bit
	// RSA key per server. Share one to keep tokens valid across restarts.
	SigningKey *rsa.PrivateKey
	// Bot makes a built-in bot join every new conversation (see bot.go).
	// Default false.
	Bot bool
	// Logger receives the server's logs. Default: nothing is logged.
	Logger *slog.Logger
}

// Server is a running fake LivePerson.
type Server struct {
	opts    Options
	http    *httptest.Server
	host    string
	log     *slog.Logger
	key     *rsa.PrivateKey // signs the JWTs it issues
	fileKey []byte          // signs temp URLs

	state  *state
	idp    *idp
	files  *storage
	faults *faults
	frames *frameLog
	bot    *bot
	survey []SurveyQuestion // under state.mu; nil: no post-conversation survey

	closeOnce sync.Once
}

// MaxFileSize is the largest file storage accepts (reference §15: 3 MB).
const MaxFileSize = 3 << 20

// NewServer starts a server.
func NewServer(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("lpwindowtest: address %q: %w", opts.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("lpwindowtest: address %q is not a loopback address", opts.Addr)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if opts.Account == "" {
		opts.Account = "12345678"
	}
	def(&opts.TokenLifetime, 24*time.Hour)
	def(&opts.ExternalTokenLifetime, 10*time.Minute)
	def(&opts.RefreshWindow, 730*time.Hour)
	def(&opts.URLLifetime, time.Minute)
	def(&opts.AuthTimeout, 5*time.Second)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	key := opts.SigningKey
	if key == nil {
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("lpwindowtest: generating a signing key: %w", err)
		}
	}
	fileKey := make([]byte, 32)
	_, _ = rand.Read(fileKey)
	s := &Server{opts: opts, log: opts.Logger, key: key, fileKey: fileKey}
	s.state = newState(s)
	s.idp = newIDP(s)
	s.files = newStorage(s)
	s.faults = newFaults()
	s.frames = newFrameLog()

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("lpwindowtest: listen: %w", err)
	}
	s.http = &httptest.Server{Listener: ln, Config: &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}}
	if opts.TLS {
		s.http.StartTLS()
	} else {
		s.http.Start()
	}
	s.host = ln.Addr().String()
	if opts.Bot {
		s.bot = startBot(s)
	}
	return s, nil
}

// Close disconnects every socket and stops the server.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		if s.bot != nil {
			s.bot.stop()
		}
		s.state.closeAllSockets()
		s.http.CloseClientConnections()
		s.http.Close()
		s.state.wg.Wait()
	})
}

// Account returns the account id the server serves.
func (s *Server) Account() string { return s.opts.Account }

// Host returns the server's host:port, which every service name resolves to.
func (s *Server) Host() string { return s.host }

// URL returns the server's base URL (http:// or https://).
func (s *Server) URL() string { return s.http.URL }

// TLS reports whether the server serves TLS.
func (s *Server) TLS() bool { return s.opts.TLS }

// HTTPClient returns a client that trusts the server's certificate.
func (s *Server) HTTPClient() *http.Client {
	if !s.opts.TLS {
		return &http.Client{}
	}
	return s.http.Client()
}

// Domains returns the account's domains: every service is this server.
func (s *Server) Domains() lpwindow.Domains {
	return lpwindow.Domains{AsyncMessagingEnt: s.host, IDP: s.host, Swift: s.host, ACCDN: s.host}
}

// Config returns an lpwindow.Config that reaches this server with token.
func (s *Server) Config(token lpwindow.TokenSource) lpwindow.Config {
	return lpwindow.Config{
		Account:    s.opts.Account,
		Domains:    s.Domains(),
		Token:      token,
		Insecure:   !s.opts.TLS,
		HTTPClient: s.HTTPClient(),
	}
}

// PublicKey returns the key that verifies the consumer JWTs the server
// issues (also served as PEM at /idp/public-key.pem).
func (s *Server) PublicKey() *rsa.PublicKey { return &s.key.PublicKey }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	a := "/api/account/{account}"
	mux.HandleFunc("GET "+a+"/service/{service}/baseURI.json", s.domainOne)
	mux.HandleFunc("GET /csdr/account/{account}/service/baseURI.json", s.domainAll)
	mux.HandleFunc("GET /csdr/account/{account}/service/{service}/baseURI.lpCsds", s.domainJSONP)
	mux.HandleFunc("POST "+a+"/signup", s.idp.signup)
	mux.HandleFunc("GET "+a+"/signup.jsonp", s.idp.signupJSONP)
	mux.HandleFunc("POST "+a+"/authenticate", s.idp.authenticate)
	mux.HandleFunc("POST "+a+"/anonymous/authorize", s.idp.anonymousAuthorize)
	mux.HandleFunc("POST "+a+"/app/{connector}/authenticate", s.idp.appAuthenticate)
	mux.HandleFunc("GET /idp/public-key.pem", s.idp.publicKeyPEM)
	mux.HandleFunc("GET "+a+"/configuration/le-users/users/{user}", s.agentProfile)
	mux.HandleFunc("GET /ws_api/account/{account}/messaging/consumer", s.serveUMS)
	mux.HandleFunc("PUT /v1/AUTH_async-images/{account}/{file}", s.files.put)
	mux.HandleFunc("GET /v1/AUTH_async-images/{account}/{file}", s.files.get)
	return mux
}

// errorJSON writes a JSON error body.
func errorJSON(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"error":%q}`, msg)
}

func (s *Server) knownAccount(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("account") != s.opts.Account {
		errorJSON(w, http.StatusUnauthorized, "unknown account")
		return false
	}
	return true
}

// waitFor blocks until cond holds (checked after every state change) or
// ctx ends.
func (s *Server) waitFor(ctx context.Context, cond func() bool) error {
	for {
		ch := s.state.changed()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// newID returns a random id in UUID form.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func nowMs() int64 { return time.Now().UnixMilli() }
