// Package lpwindow is a client for LivePerson's consumer-side Messaging
// Window API: the JSON-over-websocket protocol a visitor's app uses to open
// a conversation, talk to agents and bots, share files, and close it.
//
// # Connecting
//
// Dial finds the account's hosts with the Domain API (unless Config.Domains
// gives them), gets a consumer token from Config.Token (an Identity from
// Signup, ImplicitFlow, CodeFlow or AnonymousFlow, or StaticToken), and
// authenticates either in the handshake headers (AuthHeaders, the default)
// or, for clients that cannot set headers, in an InitConnection request
// sent as the first frame (AuthInitConnection). Dial returns once the
// connection is ready, so bad credentials fail there.
//
//	c, err := lpwindow.Dial(ctx, lpwindow.Config{
//		Account: "12345678",
//		Token:   lpwindow.ImplicitFlow(brandIDToken),
//	})
//
// # Conversations and files
//
// Conn.OpenConversation resumes or starts a conversation whose events come
// in order, once each, with its metadata changes; Conversation.SendFile and
// Conn.Download share and fetch images.
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
// # Liveness, reconnection and closing
//
// A GetClock heartbeat detects half-open sockets and measures the server's
// clock offset. A lost session is replaced with backoff, the identity is
// renewed on 4401/4407, and conversations resume from the last delivered
// sequence; calls made meanwhile wait for the new session. Close is idempotent, bounded in time, and joins every
// goroutine the Conn started, so no callback runs after it returns; it may
// be called from inside a callback.
//
// Tokens never appear in URLs, logs or error strings.
package lpwindow
