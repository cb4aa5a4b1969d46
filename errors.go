package lpwindow

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/lpwindow/lpwindow/internal/wire"
)

// Sentinel errors. Match them with errors.Is; the typed errors below carry
// the details and match the sentinels that describe them.
var (
	// ErrClosed is returned by every call on a Conn after Close.
	ErrClosed = errors.New("lpwindow: connection closed")
	// ErrConnectionLost is matched by errors that report a websocket session
	// ending under a call. It is distinct from context.DeadlineExceeded.
	ErrConnectionLost = errors.New("lpwindow: connection lost")
	// ErrOutcomeUnknown is matched when a request was written to the socket
	// but the session ended before its response arrived: the server may or
	// may not have carried it out.
	ErrOutcomeUnknown = errors.New("lpwindow: request outcome unknown")
	// ErrHeartbeatTimeout is the cause of a session torn down because the
	// server did not answer a heartbeat in time (a half-open socket).
	ErrHeartbeatTimeout = errors.New("lpwindow: heartbeat not answered")
	// ErrFrameTooLarge is the cause of a session torn down because the server
	// sent a frame larger than Config.ReadLimit.
	ErrFrameTooLarge = errors.New("lpwindow: frame exceeds the read limit")
	// ErrSlowConsumer is matched by the *SlowConsumerError reported to
	// Config.OnError when a subscriber's queue overflows.
	ErrSlowConsumer = errors.New("lpwindow: slow consumer, notifications dropped")
	// ErrInvalidConfig is matched by errors from Dial about the Config.
	ErrInvalidConfig = errors.New("lpwindow: invalid config")
	// ErrInvalidRequest is matched by errors about a request that was
	// refused before anything was sent.
	ErrInvalidRequest = errors.New("lpwindow: invalid request")
	// ErrTokenExpired is matched when the server closed the socket with
	// code 4401: the authenticated identity's token is missing or expired.
	ErrTokenExpired = errors.New("lpwindow: token expired (4401)")
	// ErrIdentityExpired is matched when the server closed the socket with
	// code 4407: the unauthenticated identity must be extended.
	ErrIdentityExpired = errors.New("lpwindow: unauthenticated identity expired (4407)")

	// ErrIdentityRefused is matched when an identity provider (LivePerson's
	// or, through the app's callback, the brand's) refused to issue a
	// token: a 4xx from the idp, or a handshake still refused with 401
	// after a renewed token. It is final; the Conn does not retry it.
	ErrIdentityRefused = errors.New("lpwindow: identity refused")

	// ErrBadRequest is matched by *APIError and *HTTPError with code 400.
	ErrBadRequest = errors.New("lpwindow: bad request")
	// ErrUnauthorized is matched by *APIError and *HTTPError with code 401.
	ErrUnauthorized = errors.New("lpwindow: unauthorized")
	// ErrForbidden is matched by *APIError and *HTTPError with code 403.
	ErrForbidden = errors.New("lpwindow: forbidden")
	// ErrNotFound is matched by *APIError and *HTTPError with code 404.
	ErrNotFound = errors.New("lpwindow: not found")
	// ErrRateLimited is matched by *APIError and *HTTPError with code 429.
	ErrRateLimited = errors.New("lpwindow: rate limited")
	// ErrServerError is matched by *APIError and *HTTPError with a 5xx code.
	ErrServerError = errors.New("lpwindow: server error")
)

// statusSentinel maps an HTTP-style status code to its sentinel, or nil.
func statusSentinel(code int) error {
	switch {
	case code == http.StatusBadRequest:
		return ErrBadRequest
	case code == http.StatusUnauthorized:
		return ErrUnauthorized
	case code == http.StatusForbidden:
		return ErrForbidden
	case code == http.StatusNotFound:
		return ErrNotFound
	case code == http.StatusTooManyRequests:
		return ErrRateLimited
	case code >= 500 && code <= 599:
		return ErrServerError
	}
	return nil
}

// APIError is a response whose code is 400 or more.
type APIError struct {
	Code        int             // the response code
	Type        string          // the response type as sent by the server
	ReqID       string          // the id of the request it answers
	RequestType string          // the type of the request it answers
	Body        json.RawMessage // the response body, raw (often a JSON string)
}

// Error describes the failure; it never contains a token.
func (e *APIError) Error() string {
	msg := ""
	if s, ok := wire.String(e.Body); ok {
		msg = s
	} else if len(e.Body) > 0 {
		msg = string(e.Body)
	}
	return fmt.Sprintf("lpwindow: %s answered %d: %s", e.RequestType, e.Code, truncate(msg, 200))
}

// Is matches the sentinel for the error's code (ErrBadRequest and the rest).
func (e *APIError) Is(target error) bool {
	s := statusSentinel(e.Code)
	return s != nil && s == target
}

// HTTPError is a failed HTTP exchange with a LivePerson REST service, or a
// websocket handshake refused with an HTTP status. It never holds tokens or
// query strings.
type HTTPError struct {
	StatusCode int    // the HTTP status
	Service    string // the LivePerson service name, e.g. "asyncMessagingEnt", "idp"
	Endpoint   string // method and path, without query string
	Body       string // the start of the response body, for diagnosis
}

// Error describes the failure; it never contains a token.
func (e *HTTPError) Error() string {
	s := fmt.Sprintf("lpwindow: %s %s: HTTP %d", e.Service, e.Endpoint, e.StatusCode)
	if e.Body != "" {
		s += ": " + truncate(e.Body, 200)
	}
	return s
}

// Is matches the sentinel for the error's status (ErrUnauthorized and the rest).
func (e *HTTPError) Is(target error) bool {
	s := statusSentinel(e.StatusCode)
	return s != nil && s == target
}

// ConnectionLostError reports a call that failed because its websocket
// session ended. It matches ErrConnectionLost, and ErrOutcomeUnknown when
// the request had already been written.
type ConnectionLostError struct {
	RequestType string // the request that was in progress, if any
	Sent        bool   // the request was written before the session ended
	Cause       error  // why the session ended
}

// Error describes the failure; it never contains a token.
func (e *ConnectionLostError) Error() string {
	what := "connection lost"
	if e.Sent {
		what = "connection lost after the request was sent; its outcome is unknown"
	}
	if e.RequestType != "" {
		what = e.RequestType + ": " + what
	}
	return fmt.Sprintf("lpwindow: %s: %v", what, e.Cause)
}

// Is matches ErrConnectionLost, and ErrOutcomeUnknown when Sent.
func (e *ConnectionLostError) Is(target error) bool {
	return target == ErrConnectionLost || (e.Sent && target == ErrOutcomeUnknown)
}

// Unwrap returns the cause.
func (e *ConnectionLostError) Unwrap() error { return e.Cause }

// CloseError is a websocket close frame received from the server. Code 4401
// matches ErrTokenExpired and 4407 matches ErrIdentityExpired.
type CloseError struct {
	Code   int
	Reason string
}

// Error describes the failure; it never contains a token.
func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("lpwindow: server closed the connection with code %d", e.Code)
	}
	return fmt.Sprintf("lpwindow: server closed the connection with code %d: %s", e.Code, truncate(e.Reason, 125))
}

// Is matches ErrTokenExpired for 4401 and ErrIdentityExpired for 4407.
func (e *CloseError) Is(target error) bool {
	return (e.Code == 4401 && target == ErrTokenExpired) || (e.Code == 4407 && target == ErrIdentityExpired)
}

// SlowConsumerError is reported to Config.OnError once per overflow episode
// of a subscription's queue: notifications were dropped because its handler
// did not keep up.
type SlowConsumerError struct {
	Type    string // the subscription's notification type ("" for all)
	Dropped uint64 // notifications dropped by this subscription so far
}

// Error describes the failure; it never contains a token.
func (e *SlowConsumerError) Error() string {
	t := e.Type
	if t == "" {
		t = "all types"
	}
	return fmt.Sprintf("lpwindow: slow consumer on %s: %d notifications dropped so far", t, e.Dropped)
}

// Is matches ErrSlowConsumer.
func (e *SlowConsumerError) Is(target error) bool { return target == ErrSlowConsumer }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func invalidf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
