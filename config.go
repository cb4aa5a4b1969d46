package lpwindow

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config configures a Conn. The zero value of every optional field works and
// its default is written beside it; Account, Domains.AsyncMessagingEnt and
// Token are required.
type Config struct {
	// Account is the LivePerson account (site) id. Required.
	Account string

	// Domains are the LivePerson hosts for the account, as the Domain API
	// returns them: host names (with an optional port), no scheme or path.
	Domains Domains

	// Token supplies the consumer's LivePerson JWT. Required.
	Token TokenSource

	// Auth selects how the socket authenticates. Default AuthHeaders.
	Auth AuthMode

	// ClientProperties describe the client to LivePerson (reference §4.4).
	// Default: no properties beyond the required type.
	ClientProperties ClientProperties

	// HTTPClient is used for the websocket handshake and REST calls; set its
	// Transport for custom TLS (for example lpwindowtest's certificate).
	// Its Timeout must be zero. Default http.DefaultClient.
	HTTPClient *http.Client

	// Insecure uses ws:// and http:// instead of wss:// and https://. It is
	// accepted only when every configured host is a loopback address, for
	// tests against lpwindowtest. Default false.
	Insecure bool

	// DialTimeout bounds the handshake and, with AuthInitConnection, the
	// wait for InitConnection's answer. Default 30s.
	DialTimeout time.Duration

	// RequestTimeout bounds requests whose context has no deadline.
	// Default 10s.
	RequestTimeout time.Duration

	// WriteTimeout bounds one frame write; a write that takes longer tears
	// the session down. Caller deadlines never cut a frame. Default 10s.
	WriteTimeout time.Duration

	// HeartbeatInterval is how often GetClock is sent to keep the socket
	// alive and prove it is not half-open. Default 30s; negative disables.
	HeartbeatInterval time.Duration

	// HeartbeatTimeout is how long a heartbeat may go unanswered before the
	// session is torn down with ErrHeartbeatTimeout. Default 10s.
	HeartbeatTimeout time.Duration

	// CloseTimeout bounds the websocket close handshake in Close.
	// Default 2s.
	CloseTimeout time.Duration

	// ReadLimit is the largest frame accepted, in bytes; a larger one ends
	// the session with ErrFrameTooLarge. History replays can be large.
	// Default 4 MiB.
	ReadLimit int64

	// QueueSize is the default capacity of each subscription's queue.
	// Default 1024.
	QueueSize int

	// Logger receives the SDK's logs. Tokens are never logged.
	// Default: nothing is logged.
	Logger *slog.Logger

	// OnStateChange is called on every connection state change, in order,
	// on a goroutine of its own (never the reader). Default: none.
	OnStateChange func(StateChange)

	// OnError receives asynchronous errors that belong to no call: a
	// *SlowConsumerError, a session lost with its cause. Called on the same
	// goroutine as OnStateChange. Default: none.
	OnError func(error)
}

// Domains are the hosts of an account's LivePerson services.
type Domains struct {
	AsyncMessagingEnt string // the UMS websocket host
	IDP               string // the consumer identity provider
	Swift             string // file storage
	ACCDN             string // account-config CDN (agent profiles)
}

// AuthMode selects how a socket authenticates.
type AuthMode int

const (
	// AuthHeaders sends the JWT and client properties as handshake headers
	// (Authorization: jwt …, Client-Properties: {…}).
	AuthHeaders AuthMode = iota
	// AuthInitConnection opens the socket without headers and sends
	// InitConnection as the first frame; nothing else is sent before its
	// 200 arrives. This is what browsers must do.
	AuthInitConnection
)

// String returns the AuthMode's name.
func (m AuthMode) String() string {
	switch m {
	case AuthHeaders:
		return "headers"
	case AuthInitConnection:
		return "InitConnection"
	}
	return fmt.Sprintf("AuthMode(%d)", int(m))
}

const (
	defaultDialTimeout       = 30 * time.Second
	defaultRequestTimeout    = 10 * time.Second
	defaultWriteTimeout      = 10 * time.Second
	defaultHeartbeatInterval = 30 * time.Second
	defaultHeartbeatTimeout  = 10 * time.Second
	defaultCloseTimeout      = 2 * time.Second
	defaultReadLimit         = 4 << 20
	defaultQueueSize         = 1024
)

// normalized returns cfg with defaults filled in, or an error matching
// ErrInvalidConfig.
func (cfg Config) normalized() (Config, error) {
	if cfg.Account == "" || strings.ContainsAny(cfg.Account, "/?#% ") {
		return cfg, invalidf(ErrInvalidConfig, "Account %q must be a non-empty account id", cfg.Account)
	}
	if cfg.Token == nil {
		return cfg, invalidf(ErrInvalidConfig, "Token is required")
	}
	if cfg.Domains.AsyncMessagingEnt == "" {
		return cfg, invalidf(ErrInvalidConfig, "Domains.AsyncMessagingEnt is required")
	}
	for _, h := range []string{cfg.Domains.AsyncMessagingEnt, cfg.Domains.IDP, cfg.Domains.Swift, cfg.Domains.ACCDN} {
		if h == "" {
			continue
		}
		if strings.ContainsAny(h, "/?#@ ") {
			return cfg, invalidf(ErrInvalidConfig, "domain %q must be a host name without scheme or path", h)
		}
		if cfg.Insecure && !isLoopback(h) {
			return cfg, invalidf(ErrInvalidConfig, "Insecure is allowed only for loopback hosts, not %q", h)
		}
	}
	if cfg.Auth != AuthHeaders && cfg.Auth != AuthInitConnection {
		return cfg, invalidf(ErrInvalidConfig, "unknown Auth %v", cfg.Auth)
	}
	if err := cfg.ClientProperties.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.HTTPClient.Timeout != 0 {
		return cfg, invalidf(ErrInvalidConfig, "HTTPClient.Timeout must be zero (it would cut the websocket); use DialTimeout")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.DialTimeout, defaultDialTimeout)
	def(&cfg.RequestTimeout, defaultRequestTimeout)
	def(&cfg.WriteTimeout, defaultWriteTimeout)
	def(&cfg.HeartbeatInterval, defaultHeartbeatInterval)
	def(&cfg.HeartbeatTimeout, defaultHeartbeatTimeout)
	def(&cfg.CloseTimeout, defaultCloseTimeout)
	if cfg.ReadLimit <= 0 {
		cfg.ReadLimit = defaultReadLimit
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = defaultQueueSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// websocketURL is the UMS consumer endpoint (reference §4.1). It never holds
// a token.
func (cfg *Config) websocketURL() string {
	scheme := "wss"
	if cfg.Insecure {
		scheme = "ws"
	}
	return scheme + "://" + cfg.Domains.AsyncMessagingEnt + "/ws_api/account/" + url.PathEscape(cfg.Account) + "/messaging/consumer?v=3"
}

// isLoopback reports whether host (with an optional port) is localhost or a
// loopback IP address.
func isLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
