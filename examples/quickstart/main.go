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
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/examples/internal/lpenv"
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
	cfg, cleanup, err := lpenv.Config(ctx, out)
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

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
