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
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
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
	fmt.Fprintf(out, "connected as consumer %s\n", short(c.ConsumerID()))

	// Resume the consumer's open conversation, or open a new one. AutoAccept
	// sends an ACCEPT receipt for each agent message as it reaches us.
	conv, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{AutoAccept: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "conversation %s\n\n", short(conv.ID()))

	// awaitAgent prints the stream until an agent text arrives, and marks
	// that text read.
	awaitAgent := func() error {
		for {
			ev, err := conv.Next(ctx)
			if err != nil {
				return fmt.Errorf("waiting for the agent: %w", err)
			}
			printEvent(out, ev)
			if lpwindow.IsAgentText(ev) {
				return conv.MarkRead(ctx, ev.Dialog, ev.Message.Sequence)
			}
		}
	}
	if err := awaitAgent(); err != nil { // the greeting
		return err
	}
	for _, line := range []string{"Hello! I'd like to check my order.", "help"} {
		// Typing first, as a person would; then the text.
		if err := conv.Typing(ctx, true); err != nil {
			return err
		}
		if _, err := conv.SendText(ctx, line); err != nil {
			return err
		}
		if err := conv.Typing(ctx, false); err != nil {
			return err
		}
		if err := awaitAgent(); err != nil {
			return err
		}
	}

	// Close, and wait for the metadata to say so.
	if err := conv.Close(ctx); err != nil {
		return err
	}
	for {
		ev, err := conv.Next(ctx)
		if err != nil {
			return fmt.Errorf("waiting for the close: %w", err)
		}
		printEvent(out, ev)
		if ev.Kind == lpwindow.KindMetadata && ev.Info.State == lpwindow.ConversationClose {
			fmt.Fprintf(out, "\nconversation closed by %s\n", strings.ToLower(ev.Info.CloseReason))
			return nil
		}
	}
}

func printEvent(out io.Writer, ev lpwindow.ConversationEvent) {
	switch ev.Kind {
	case lpwindow.KindMessage:
		who := "agent"
		if ev.Mine {
			who = "me"
		}
		e := ev.Message.Event
		switch e.Type {
		case lpwindow.EventContent:
			fmt.Fprintf(out, "  %-6s %s\n", who+":", e.Text)
			if e.QuickReplies != nil {
				var titles []string
				for _, b := range e.QuickReplies.Replies {
					titles = append(titles, "["+b.Title+"]")
				}
				fmt.Fprintf(out, "         %s\n", strings.Join(titles, " "))
			}
		case lpwindow.EventAcceptStatus:
			if !ev.Mine {
				word := map[lpwindow.AcceptStatus]string{lpwindow.StatusAccept: "received", lpwindow.StatusRead: "read"}[e.Status]
				fmt.Fprintf(out, "         (%s by the agent: %v)\n", word, e.Sequences)
			}
		}
	case lpwindow.KindChatState:
		if !ev.Mine && ev.Message.Event.ChatState == lpwindow.ChatComposing {
			fmt.Fprintln(out, "         (the agent is typing…)")
		}
	case lpwindow.KindMetadata:
		for _, ch := range ev.Changes {
			if ch.Kind == lpwindow.ChangeAgentJoined {
				fmt.Fprintln(out, "  (an agent joined)")
			}
		}
	case lpwindow.KindGap:
		fmt.Fprintf(out, "  (messages %d to %d could not be delivered)\n", ev.GapFrom, ev.GapTo)
	}
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

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
