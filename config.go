package lpwindow

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config configures a Conn. The zero value of every optional field works and
// its default is written beside it; Account and Token are required.
type Config struct {
	// Account is the LivePerson account (site) id. Required.
	Account string

	// Domains are the LivePerson hosts for the account, as the Domain API
	// returns them: host names (with an optional port), no scheme or path.
	// Default: when AsyncMessagingEnt is empty, Dial asks DomainResolver
	// for all of them.
	Domains Domains

	// DomainResolver resolves Domains when they are not given. Default: a
	// resolver shared by the process, on DefaultDomainAPIHost, caching for
	// DefaultDomainTTL.
	DomainResolver *DomainResolver

	// Token supplies the consumer's LivePerson JWT: an *Identity (Signup,
	// ImplicitFlow, CodeFlow, AnonymousFlow), StaticToken, or your own
	// TokenSource (a Renewer, to be asked for a fresh token on 4401/4407).
	// An *Identity without an IDP gets Account, Domains.IDP, HTTPClient,
	// Insecure and Logger from this Config. Required.
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

	// ReconnectWait is the base of the reconnection backoff: after an
	// unplanned disconnect, attempt n waits a random time between 0 and
	// ReconnectWait·2ⁿ⁻¹ (full jitter), capped by MaxReconnectWait. The
	// count starts again once a session has stayed up for ten times
	// ReconnectWait. Default 1s.
	ReconnectWait time.Duration

	// MaxReconnectWait caps one backoff wait. Default 2m (LivePerson's
	// retry policy for login and socket reconnects, reference §18).
	MaxReconnectWait time.Duration

	// MaxReconnects is how many consecutive attempts are made before the
	// Conn gives up (StateFailed). Default 0: no limit; negative: never
	// reconnect (a lost session is final).
	MaxReconnects int

	// FailFast makes calls fail at once with ErrConnectionLost while the
	// Conn is reconnecting. Default false: a call waits, within its
	// context, for the connection to come back.
	FailFast bool

	// MaxWaitingRequests bounds the calls waiting for a reconnection;
	// more fail at once with ErrConnectionLost. Default 1024.
	MaxWaitingRequests int

	// Retry is the pause before each resend of a request the server
	// answered with 5xx, for request types safe to resend (subscriptions,
	// GetClock, file URLs; never a publish), and of REST calls (Domain API,
	// identity provider) that failed transiently. A 429 waits at least
	// RateLimitPause plus jitter. The request's context bounds it all.
	// Default DefaultRetry (5s, 10s, 15s: reference §18); an empty
	// non-nil slice never retries.
	Retry []time.Duration

	// FileTimeout bounds an upload or a download (SendFile, Upload,
	// Download) whose context has no deadline. Default 2m.
	FileTimeout time.Duration

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
	defaultReconnectWait     = time.Second
	defaultMaxReconnectWait  = 2 * time.Minute
	defaultMaxWaiting        = 1024
)

// normalized returns cfg with defaults filled in, or an error matching
// ErrInvalidConfig.
func (cfg Config) normalized() (Config, error) {
	if err := checkAccount(cfg.Account); err != nil {
		return cfg, err
	}
	if cfg.Token == nil {
		return cfg, invalidf(ErrInvalidConfig, "Token is required")
	}
	if err := cfg.checkDomains(); err != nil {
		return cfg, err
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
	def(&cfg.FileTimeout, 2*time.Minute)
	def(&cfg.ReconnectWait, defaultReconnectWait)
	def(&cfg.MaxReconnectWait, defaultMaxReconnectWait)
	if cfg.Retry == nil {
		cfg.Retry = DefaultRetry
	}
	if cfg.MaxWaitingRequests <= 0 {
		cfg.MaxWaitingRequests = defaultMaxWaiting
	}
	if cfg.ReconnectWait < 0 || cfg.MaxReconnectWait < 0 {
		return cfg, invalidf(ErrInvalidConfig, "ReconnectWait and MaxReconnectWait must not be negative")
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = defaultQueueSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// checkDomains checks the hosts that are set.
func (cfg *Config) checkDomains() error {
	for _, h := range []string{cfg.Domains.AsyncMessagingEnt, cfg.Domains.IDP, cfg.Domains.Swift, cfg.Domains.ACCDN} {
		if h == "" {
			continue
		}
		if err := checkHost(h, cfg.Insecure); err != nil {
			return err
		}
	}
	return nil
}

// resolveDomains fills in Domains with the Domain API when
// AsyncMessagingEnt is not given, and binds an *Identity to the IDP.
func (cfg *Config) resolveDomains(ctx context.Context) error {
	if cfg.Domains.AsyncMessagingEnt == "" {
		r := cfg.DomainResolver
		if r == nil {
			r = defaultResolver
		}
		d, err := r.Resolve(ctx, cfg.Account)
		if err != nil {
			return err
		}
		// Hosts given explicitly win over resolved ones.
		if cfg.Domains.IDP != "" {
			d.IDP = cfg.Domains.IDP
		}
		if cfg.Domains.Swift != "" {
			d.Swift = cfg.Domains.Swift
		}
		if cfg.Domains.ACCDN != "" {
			d.ACCDN = cfg.Domains.ACCDN
		}
		cfg.Domains = d
		if err := cfg.checkDomains(); err != nil {
			return err
		}
	}
	if id, ok := cfg.Token.(*Identity); ok {
		id.bind(IDP{Account: cfg.Account, Host: cfg.Domains.IDP, HTTPClient: cfg.HTTPClient, Insecure: cfg.Insecure, Retry: cfg.Retry, Logger: cfg.Logger})
	}
	return nil
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
