// Command quickstart opens a conversation, exchanges a few messages (text,
// receipts, typing) with the agent, closes the conversation and prints the
// transcript.
//
// With no configuration it starts the fake LivePerson (lpwindowtest) in
// this process, with its echo bot as the agent:
//
//	go run ./examples/quickstart
//
// With LP_ACCOUNT set it talks to LivePerson itself: the hosts come from
// the Domain API, and the consumer is LP_JWT when set, else a new
// unauthenticated consumer from the identity provider's signup (which the
// account must allow).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	cfg, cleanup, err := setup(ctx, out)
	if err != nil {
		return err
	}
	defer cleanup()

	c, err := lpwindow.Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	me := c.ConsumerID()
	fmt.Fprintf(out, "connected as consumer %s\n", short(me))

	// Everything the server sends lands here, in order.
	events := make(chan change, 256)
	if _, err := c.Subscribe("ms.MessagingEventNotification", func(n *lpwindow.Notification) { forward(n, events) }); err != nil {
		return err
	}
	meta := &metadata{}
	if _, err := c.Subscribe("cqm.ExConversationChangeNotification", meta.update); err != nil {
		return err
	}

	// Resume the consumer's open conversation, or open one (reference §10).
	if _, err := c.Request(ctx, "cqm.SubscribeExConversations", map[string]any{"convState": []string{"OPEN"}}); err != nil {
		return err
	}
	conv, err := meta.openConversation(ctx)
	if err != nil {
		return err
	}
	if conv == "" {
		resp, err := c.Request(ctx, "cm.ConsumerRequestConversation", map[string]any{"channelType": "MESSAGING"})
		if err != nil {
			return err
		}
		var b struct {
			ConversationID string `json:"conversationId"`
		}
		if err := resp.Decode(&b); err != nil {
			return err
		}
		conv = b.ConversationID
		fmt.Fprintf(out, "conversation %s opened\n\n", short(conv))
	} else {
		fmt.Fprintf(out, "conversation %s resumed\n\n", short(conv))
	}
	if _, err := c.Request(ctx, "ms.SubscribeMessagingEvents", map[string]any{"dialogId": conv, "fromSeq": 0}); err != nil {
		return err
	}

	publish := func(event map[string]any) error {
		_, err := c.Request(ctx, "ms.PublishEvent", map[string]any{"dialogId": conv, "conversationId": conv, "event": event})
		return err
	}
	say := func(text string) error {
		// Typing first, as a person would; then the text.
		if err := publish(map[string]any{"type": "ChatStateEvent", "chatState": "COMPOSING"}); err != nil {
			return err
		}
		if err := publish(map[string]any{"type": "ContentEvent", "contentType": "text/plain", "message": text}); err != nil {
			return err
		}
		return publish(map[string]any{"type": "ChatStateEvent", "chatState": "ACTIVE"})
	}
	// awaitAgentText prints events until an agent text arrives, and
	// acknowledges each agent text with ACCEPT and READ receipts.
	awaitAgentText := func() (string, error) {
		for {
			select {
			case ch := <-events:
				printEvent(out, ch, me)
				if ch.OriginatorID == me || ch.Event.Type != "ContentEvent" {
					continue
				}
				for _, status := range []string{"ACCEPT", "READ"} {
					if err := publish(map[string]any{"type": "AcceptStatusEvent", "status": status, "sequenceList": []int{ch.Sequence}}); err != nil {
						return "", err
					}
				}
				return ch.Event.text(), nil
			case <-ctx.Done():
				return "", fmt.Errorf("waiting for the agent: %w", ctx.Err())
			}
		}
	}

	if _, err := awaitAgentText(); err != nil { // the greeting
		return err
	}
	for _, line := range []string{"Hello! I'd like to check my order.", "help"} {
		if err := say(line); err != nil {
			return err
		}
		if _, err := awaitAgentText(); err != nil {
			return err
		}
	}

	// Close the conversation and wait for the metadata to say so.
	if _, err := c.Request(ctx, "cm.UpdateConversationField", map[string]any{"conversationId": conv,
		"conversationField": []any{map[string]any{"field": "ConversationStateField", "conversationState": "CLOSE"}}}); err != nil {
		return err
	}
	by, err := meta.waitClosed(ctx, conv)
	if err != nil {
		return err
	}
	drain(out, events, me)
	fmt.Fprintf(out, "\nconversation closed by %s\n", strings.ToLower(by))
	return nil
}

// setup returns the Config: the embedded fake, or LivePerson with LP_ACCOUNT.
func setup(ctx context.Context, out io.Writer) (lpwindow.Config, func(), error) {
	account := os.Getenv("LP_ACCOUNT")
	if account == "" {
		srv, err := lpwindowtest.NewServer(lpwindowtest.Options{Bot: true})
		if err != nil {
			return lpwindow.Config{}, nil, err
		}
		fmt.Fprintf(out, "fake LivePerson on %s (account %s); set LP_ACCOUNT to use LivePerson itself\n", srv.Host(), srv.Account())
		// Sign up as a new unauthenticated consumer, as a demo would.
		jwt, err := signup(ctx, srv.HTTPClient(), srv.URL(), srv.Account())
		if err != nil {
			srv.Close()
			return lpwindow.Config{}, nil, err
		}
		ts, err := lpwindow.StaticToken(jwt)
		if err != nil {
			srv.Close()
			return lpwindow.Config{}, nil, err
		}
		return srv.Config(ts), srv.Close, nil
	}
	asyncHost, err := domain(ctx, account, "asyncMessagingEnt")
	if err != nil {
		return lpwindow.Config{}, nil, err
	}
	jwt := os.Getenv("LP_JWT")
	if jwt == "" {
		idp, err := domain(ctx, account, "idp")
		if err != nil {
			return lpwindow.Config{}, nil, err
		}
		if jwt, err = signup(ctx, http.DefaultClient, "https://"+idp, account); err != nil {
			return lpwindow.Config{}, nil, err
		}
	}
	ts, err := lpwindow.StaticToken(jwt)
	if err != nil {
		return lpwindow.Config{}, nil, err
	}
	fmt.Fprintf(out, "LivePerson account %s via %s\n", account, asyncHost)
	return lpwindow.Config{Account: account, Domains: lpwindow.Domains{AsyncMessagingEnt: asyncHost}, Token: ts}, func() {}, nil
}

func signup(ctx context.Context, hc *http.Client, base, account string) (string, error) {
	var b struct {
		JWT string `json:"jwt"`
	}
	err := postJSON(ctx, hc, base+"/api/account/"+account+"/signup", &b)
	return b.JWT, err
}

// domain asks the Domain API for one service's host (reference §2).
func domain(ctx context.Context, account, service string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"https://api.liveperson.net/api/account/"+account+"/service/"+service+"/baseURI.json?version=1.0", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b struct {
		BaseURI  string `json:"baseURI"`
		BaseURIs []struct {
			Service, BaseURI string
		} `json:"baseURIs"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("domain API: HTTP %d for %s", resp.StatusCode, service)
	}
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		return "", err
	}
	for _, u := range b.BaseURIs { // the list form; a bare object otherwise
		if u.Service == service {
			return u.BaseURI, nil
		}
	}
	if b.BaseURI == "" {
		return "", fmt.Errorf("domain API: no %s host", service)
	}
	return b.BaseURI, nil
}

func postJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("signup: HTTP %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// change is the part of a messaging event the transcript shows.
type change struct {
	Sequence     int    `json:"sequence"`
	OriginatorID string `json:"originatorId"`
	Event        event  `json:"event"`
}

type event struct {
	Type         string          `json:"type"`
	ContentType  string          `json:"contentType"`
	Message      json.RawMessage `json:"message"`
	Status       string          `json:"status"`
	SequenceList []int           `json:"sequenceList"`
	ChatState    string          `json:"chatState"`
	QuickReplies *struct {
		Replies []struct {
			Title string `json:"title"`
		} `json:"replies"`
	} `json:"quickReplies"`
}

func (e event) text() string {
	var s string
	_ = json.Unmarshal(e.Message, &s)
	return s
}

func forward(n *lpwindow.Notification, to chan<- change) {
	var b struct {
		Changes []change `json:"changes"`
	}
	if n.Decode(&b) != nil {
		return
	}
	for _, ch := range b.Changes {
		to <- ch
	}
}

func printEvent(out io.Writer, ch change, me string) {
	who := "agent"
	if ch.OriginatorID == me {
		who = "me"
	}
	e := ch.Event
	switch e.Type {
	case "ContentEvent":
		fmt.Fprintf(out, "  %-6s %s\n", who+":", e.text())
		if e.QuickReplies != nil {
			var titles []string
			for _, r := range e.QuickReplies.Replies {
				titles = append(titles, "["+r.Title+"]")
			}
			fmt.Fprintf(out, "         %s\n", strings.Join(titles, " "))
		}
	case "AcceptStatusEvent":
		if who == "agent" {
			fmt.Fprintf(out, "         (%s by the agent: %v)\n", map[string]string{"ACCEPT": "received", "READ": "read", "ACTION": "acted on"}[e.Status], e.SequenceList)
		}
	case "ChatStateEvent":
		if who == "agent" && e.ChatState == "COMPOSING" {
			fmt.Fprintln(out, "         (the agent is typing…)")
		}
	}
}

// drain prints what is already queued.
func drain(out io.Writer, events <-chan change, me string) {
	for {
		select {
		case ch := <-events:
			printEvent(out, ch, me)
		case <-time.After(100 * time.Millisecond):
			return
		}
	}
}

// metadata tracks conversation states from cqm.ExConversationChangeNotification.
type metadata struct {
	mu       sync.Mutex
	snapshot bool
	convs    map[string]struct{ state, closedBy string }
	changed  chan struct{}
}

func (m *metadata) update(n *lpwindow.Notification) {
	var b struct {
		Changes []struct {
			Type   string `json:"type"`
			Result struct {
				ConvID  string `json:"convId"`
				Details struct {
					State       string `json:"state"`
					CloseReason string `json:"closeReason"`
				} `json:"conversationDetails"`
			} `json:"result"`
		} `json:"changes"`
	}
	if n.Decode(&b) != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.convs == nil {
		m.convs = map[string]struct{ state, closedBy string }{}
	}
	for _, ch := range b.Changes {
		if ch.Type == "UPSERT" {
			m.convs[ch.Result.ConvID] = struct{ state, closedBy string }{ch.Result.Details.State, ch.Result.Details.CloseReason}
		}
	}
	m.snapshot = true
	if m.changed != nil {
		close(m.changed)
		m.changed = nil
	}
}

// wait blocks until cond holds over the metadata.
func (m *metadata) wait(ctx context.Context, cond func() bool) error {
	for {
		m.mu.Lock()
		if cond() {
			m.mu.Unlock()
			return nil
		}
		if m.changed == nil {
			m.changed = make(chan struct{})
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// openConversation waits for the first snapshot and returns an open
// conversation's id, or "".
func (m *metadata) openConversation(ctx context.Context) (string, error) {
	var id string
	err := m.wait(ctx, func() bool {
		for cid, c := range m.convs {
			if c.state == "OPEN" {
				id = cid
			}
		}
		return m.snapshot
	})
	return id, err
}

func (m *metadata) waitClosed(ctx context.Context, conv string) (string, error) {
	var by string
	err := m.wait(ctx, func() bool {
		c, ok := m.convs[conv]
		by = c.closedBy
		return ok && c.state == "CLOSE"
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return "", fmt.Errorf("the conversation did not close: %w", err)
	}
	return by, err
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
