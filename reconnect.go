package lpwindow

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// supervise watches the live session; when it ends without Close, it
// reconnects with backoff, renews the identity when the server refused it,
// and resumes the conversations (reference §3.5, §10 step 9, §18, §20).
func (c *Conn) supervise(s *session) {
	attempt := 0
	for {
		c.group.Go(s.heartbeatLoop)
		up := time.Now()
		select {
		case <-s.done:
		case <-c.closing:
			return
		}
		cause := s.cause()
		if !c.sessionLost(cause) {
			return
		}
		if time.Since(up) >= 10*c.cfg.ReconnectWait {
			attempt = 0 // that session was stable
		}
		next := c.reconnect(cause, s.token, &attempt)
		if next == nil {
			return
		}
		s = next
	}
}

// sessionLost records the loss; false if the Conn is closing.
func (c *Conn) sessionLost(cause error) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.lostErr = cause
	c.setLive(nil)
	c.mu.Unlock()
	c.log.Warn("lpwindow: session lost", "err", cause)
	c.emit(&ConnectionLostError{Cause: cause})
	return true
}

// reconnect makes attempts until one gives a ready, resumed session, the
// Conn gives up (nil, after StateFailed), or Close (nil).
func (c *Conn) reconnect(cause error, tok Token, attempt *int) *session {
	stale := renewFor(cause, nil, tok)
	for {
		if reason := c.giveUp(cause, *attempt); reason != nil {
			c.fail(reason)
			return nil
		}
		*attempt++
		delay := c.backoff(*attempt, cause)
		c.setState(StateChange{State: StateDisconnected, Err: cause, Attempt: *attempt, Delay: delay})
		if sleep(c.ctx, delay) != nil {
			return nil
		}
		c.stats.attempts.Add(1)
		c.setState(StateChange{State: StateConnecting, Attempt: *attempt})
		s, err := c.connect(c.ctx, stale)
		if err != nil {
			if c.ctx.Err() != nil {
				return nil
			}
			c.log.Info("lpwindow: reconnection failed", "attempt", *attempt, "err", err)
			// A handshake refused with 401 after a renewed token means
			// the identity provider's tokens are not accepted: final.
			if stale != nil && isHandshake401(err) {
				err = fmt.Errorf("%w: the server refused a renewed token: %w", ErrIdentityRefused, err)
			}
			stale = renewFor(err, stale, tok)
			cause = err
			continue
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			s.end(ErrClosed, true)
			return nil
		}
		c.setLive(s)
		c.mu.Unlock()
		c.stats.reconnects.Add(1)
		c.log.Info("lpwindow: reconnected", "attempt", *attempt)
		if err := c.resume(s); err != nil {
			// Without its subscriptions the session would deliver nothing:
			// end it, and the next attempt resubscribes everything.
			c.log.Warn("lpwindow: resubscribing failed; reconnecting again", "err", err)
			s.end(fmt.Errorf("resubscribing after the reconnection: %w", err), false)
			return s
		}
		c.setState(StateChange{State: StateReady, Attempt: *attempt})
		return s
	}
}

// renewFor returns the token to renew after err: the refused one when the
// server closed with 4401/4407 or refused the handshake with 401, else
// prev (a renewal still due).
func renewFor(err error, prev *Token, used Token) *Token {
	if errors.Is(err, ErrTokenExpired) || errors.Is(err, ErrIdentityExpired) || isHandshake401(err) {
		return &used
	}
	return prev
}

func isHandshake401(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Service == "asyncMessagingEnt" && he.StatusCode == http.StatusUnauthorized
}

// giveUp returns why the Conn stops reconnecting, or nil.
func (c *Conn) giveUp(cause error, attempts int) error {
	var he *HTTPError
	switch {
	case c.cfg.MaxReconnects < 0:
		return cause
	case c.cfg.MaxReconnects > 0 && attempts >= c.cfg.MaxReconnects:
		return fmt.Errorf("gave up after %d reconnection attempts: %w", attempts, cause)
	case errors.Is(cause, ErrIdentityRefused), errors.Is(cause, ErrInvalidConfig):
		return cause
	case errors.As(cause, &he) && he.Service == "asyncMessagingEnt" && he.StatusCode >= 400 && he.StatusCode < 500 &&
		he.StatusCode != http.StatusUnauthorized && he.StatusCode != http.StatusRequestTimeout && he.StatusCode != http.StatusTooManyRequests:
		return cause // the handshake itself is wrong (403 forbidden, 404 no such account)
	}
	return nil
}

// backoff is the wait before attempt n: full jitter over ReconnectWait·2ⁿ⁻¹
// capped by MaxReconnectWait; at least RateLimitPause (plus jitter) after a
// 429 (reference §18).
func (c *Conn) backoff(n int, cause error) time.Duration {
	ceiling := c.cfg.ReconnectWait
	for i := 1; i < n && ceiling < c.cfg.MaxReconnectWait; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, c.cfg.MaxReconnectWait)
	var d time.Duration
	if ceiling > 0 {
		d = rand.N(ceiling + 1)
	}
	if errors.Is(cause, ErrRateLimited) {
		d = max(d, RateLimitPause+rand.N(RateLimitPause))
	}
	return d
}

// fail makes the loss final: StateFailed, and calls fail from now on.
func (c *Conn) fail(reason error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.failed = true
	c.lostErr = reason
	close(c.lost)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	c.log.Warn("lpwindow: not reconnecting", "err", reason)
	c.setState(StateChange{State: StateFailed, Err: reason})
	c.emit(&ConnectionLostError{Cause: reason})
}

// resume restores on s what the server forgot with the old socket: the
// conversations' subscriptions, from the next sequence of each dialog.
func (c *Conn) resume(s *session) error {
	c.routerMu.Lock()
	r := c.router
	c.routerMu.Unlock()
	if r == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(withSession(c.ctx, s), c.cfg.RequestTimeout)
	defer cancel()
	return r.resume(ctx, s)
}
