// Package lpwindow is a client for LivePerson's consumer-side Messaging
// Window API: the JSON-over-websocket protocol a visitor's app uses to open
// a conversation, talk to agents and bots, and close it.
//
// # Connecting
//
// Dial authenticates with the consumer's LivePerson JWT, either in the
// handshake headers (AuthHeaders, the default) or, for clients that cannot
// set headers, in an InitConnection request sent as the first frame
// (AuthInitConnection). Dial returns once the connection is ready, so bad
// credentials fail there.
//
//	c, err := lpwindow.Dial(ctx, lpwindow.Config{
//		Account: "12345678",
//		Domains: lpwindow.Domains{AsyncMessagingEnt: "va.msg.liveperson.net"},
//		Token:   tokenSource,
//	})
//
// # Requests
//
// Conn.Request sends any request type and waits for its response, matched
// by request id. A response with a code of 400 or more is an *APIError,
// matched with errors.Is against ErrBadRequest, ErrUnauthorized,
// ErrForbidden, ErrNotFound, ErrRateLimited and ErrServerError. A request
// whose connection is lost fails with an error matching ErrConnectionLost
// (and ErrOutcomeUnknown if it had been written), never with a timeout.
//
// # Notifications
//
// Conn.Subscribe routes notifications by type to a handler that runs on a
// goroutine of its own, fed by a bounded queue: handlers never block the
// reader, and a handler that falls behind loses notifications visibly
// (Subscription.Dropped, a *SlowConsumerError to Config.OnError), never
// silently.
//
// # Liveness and closing
//
// A GetClock heartbeat detects half-open sockets and measures the server's
// clock offset. Close is idempotent, bounded in time, and joins every
// goroutine the Conn started, so no callback runs after it returns; it may
// be called from inside a callback.
//
// Tokens never appear in URLs, logs or error strings.
package lpwindow
